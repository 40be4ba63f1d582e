#!/usr/bin/env bash
# The main job end to end on the embedded synthetic data, on a CPU:
#   set up -> generate synthetic DeepFashion2 -> mim train -> mim test (single, flip TTA,
#   flip + multi-scale TTA)
#   -> metric table against the learning bar -> annotated validation pictures.
# Idempotent: a second run reuses the environment, the data and the trained checkpoint.
#
#   bash tools/run_demo.sh
#
# Environment variables (defaults in brackets):
#   DEMO_DATA [data/synthetic_deepfashion2]   DEMO_WORK [work_dirs/demo]
#   DEMO_NUM_TRAIN [6000] DEMO_NUM_VAL [100] DEMO_SIZE [128]
#   DEMO_CONFIG [configs/deepmark/deepmark_lite_1xb8-4000it_synthetic-128.py]
#   DEMO_CFG_OPTIONS  extra --cfg-options for training, e.g. "train_cfg.max_iters=100"
#   DEMO_CHECK_BAR=1  exit non-zero when the learning bar is missed (default: report it only)
#   DEMO_LAUNCHER=torchrun  train and test with `torchrun --nproc_per_node DEMO_NPROC [2]
#                     tools/{train,test}.py ... --launcher pytorch` (PyTorch DDP through MMEngine;
#                     gloo on a machine without CUDA) instead of `mim train/test`
#   DEMO_SKIP_SETUP=1 use the environment in DEEPMARK_VENV as it is (no tools/setup_env.sh)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -n "${DEMO_SKIP_SETUP:-}" ] || bash "$REPO/tools/setup_env.sh"
VENV=${DEEPMARK_VENV:-$REPO/.venv}
PY=$VENV/bin/python
cd "$REPO"

DATA=${DEMO_DATA:-data/synthetic_deepfashion2}
WORK=${DEMO_WORK:-work_dirs/demo}
CONFIG=${DEMO_CONFIG:-configs/deepmark/deepmark_lite_1xb8-4000it_synthetic-128.py}
DATA=${DATA%/}
data_opts="data_root=$DATA/ train_dataloader.dataset.data_root=$DATA/ \
val_dataloader.dataset.data_root=$DATA/ test_dataloader.dataset.data_root=$DATA/ \
val_evaluator.ann_file=$DATA/validation/deepfashion2_validation.json \
test_evaluator.ann_file=$DATA/validation/deepfashion2_validation.json"
launcher=${DEMO_LAUNCHER:-mim}
case "$launcher" in
  mim) launch_note="" ;;
  torchrun) nproc=${DEMO_NPROC:-2}; launch_note=" torchrun-nproc=$nproc" ;;
  *) echo "DEMO_LAUNCHER must be mim or torchrun, got '$launcher'" >&2; exit 2 ;;
esac
train() {  # train CONFIG ARGS...: mim, or torchrun with a free rendezvous port (--standalone)
  if [ "$launcher" = torchrun ]; then
    "$VENV/bin/torchrun" --standalone --nproc_per_node "$nproc" tools/train.py "$CONFIG" \
      --launcher pytorch "$@"
  else
    "$VENV/bin/mim" train deepmark_mm "$CONFIG" "$@"
  fi
}
test_ckpt() {  # test_ckpt ARGS...: evaluate $CKPT on the validation split
  if [ "$launcher" = torchrun ]; then
    "$VENV/bin/torchrun" --standalone --nproc_per_node "$nproc" tools/test.py "$CONFIG" "$CKPT" \
      --launcher pytorch "$@"
  else
    "$VENV/bin/mim" test deepmark_mm "$CONFIG" --checkpoint "$CKPT" "$@"
  fi
}
if [ "$launcher" = torchrun ]; then
  train_text="torchrun --nproc_per_node $nproc tools/train.py $CONFIG --launcher pytorch"
  test_text="torchrun --nproc_per_node $nproc tools/test.py $CONFIG CKPT --launcher pytorch"
else
  train_text="mim train deepmark_mm $CONFIG"
  test_text="mim test deepmark_mm $CONFIG --checkpoint CKPT"
fi
step() { printf '\n=== [demo %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
start=$(date +%s)

# the set is reused only when it was generated with the same settings (a stamp records them)
gen_args=(--num-train "${DEMO_NUM_TRAIN:-6000}" --num-val "${DEMO_NUM_VAL:-100}"
          --size "${DEMO_SIZE:-128}" --seed 0)
if [ "$(cat "$DATA/.generated_with" 2>/dev/null)" != "${gen_args[*]}" ]; then
  step "generating the synthetic DeepFashion2-format set in $DATA (${gen_args[*]})"
  rm -rf "$DATA/train" "$DATA/validation"
  "$PY" tools/dataset_converters/make_synthetic_deepfashion2.py "$DATA" "${gen_args[@]}"
  echo "${gen_args[*]}" > "$DATA/.generated_with"
else
  step "reusing the synthetic set in $DATA (${gen_args[*]})"
fi

# a work dir made with other settings (config, options, data) is kept aside, never reused
settings="$CONFIG ${DEMO_CFG_OPTIONS:-} ${gen_args[*]}$launch_note"
if [ -d "$WORK" ] && [ "$(cat "$WORK/demo_settings" 2>/dev/null)" != "$settings" ]; then
  kept="$WORK.$(date +%Y%m%d_%H%M%S)"
  step "$WORK was made with other settings: moving it to $kept"
  mv "$WORK" "$kept"
fi
mkdir -p "$WORK"
echo "$settings" > "$WORK/demo_settings"

if [ ! -f "$WORK/training_done" ]; then
  resume=()
  [ -s "$WORK/last_checkpoint" ] && resume=(--resume)  # an interrupted demo continues
  step "training: $train_text ${resume[*]}"
  # shellcheck disable=SC2086
  train --work-dir "$WORK" "${resume[@]}" --cfg-options $data_opts ${DEMO_CFG_OPTIONS:-}
  cp "$(cat "$WORK/last_checkpoint")" "$WORK/final.pth"
  touch "$WORK/training_done"
else
  step "reusing the trained checkpoint $WORK/final.pth"
fi
CKPT=$WORK/final.pth

step "testing (single scale): ${test_text/CKPT/$CKPT}"
# shellcheck disable=SC2086
test_ckpt --work-dir "$WORK/test_single" --cfg-options $data_opts
step "testing (flip TTA): ${test_text/CKPT/$CKPT} --tta"
# shellcheck disable=SC2086
test_ckpt --work-dir "$WORK/test_flip" --tta --cfg-options $data_opts
step "testing (flip + multi-scale TTA, views 1.0 and 1.25): ${test_text/CKPT/$CKPT} --tta tta_scales=[1.0,1.25]"
# shellcheck disable=SC2086
test_ckpt --work-dir "$WORK/test_flip_ms" --tta --cfg-options $data_opts "tta_scales=[1.0,1.25]"

step "drawing validation predictions into $WORK/vis"
mkdir -p "$WORK/vis_inputs"
find "$DATA/validation/image" -name '*.jpg' | sort | sed -n 1,8p | xargs -I{} cp {} "$WORK/vis_inputs/"
"$PY" tools/demo/image_demo.py "$WORK/vis_inputs" "$CONFIG" "$CKPT" --out-dir "$WORK/vis" \
  --score-thr 0.3

step "results on the synthetic validation split ($(( $(date +%s) - start )) s after set-up)"
bar=(--no-bar)
[ -n "${DEMO_CHECK_BAR:-}" ] && bar=()
"$PY" tools/analysis_tools/demo_report.py "$WORK/test_single" "$WORK/test_flip" \
  --flip-ms "$WORK/test_flip_ms" "${bar[@]}"
echo "pictures: $WORK/vis   checkpoint: $CKPT   logs: $WORK/"
