#!/usr/bin/env bash
# DeepMark-Lite on the 117 FLD lab photos, on a CPU: convert the CSV (first 90 file names train,
# last 27 test) -> train from ImageNet weights and from random weights (same recipe) -> test both
# on the 27 held-out photos (box / landmark mAP, mmpose's PCK@0.2 / AUC / EPE on matched
# detections) -> pictures of the ImageNet model's predictions. Idempotent: a finished training is
# reused.
#
#   bash tools/run_fld_lab.sh
#
# Environment variables (defaults in brackets):
#   FLD_PHOTOS [../shared/fashion-landmarks/fld_lab_photos]   FLD_WORK [work_dirs/fld_lab]
#   FLD_CFG_OPTIONS  extra --cfg-options for training, e.g. "train_cfg.max_iters=20"
#   FLD_SKIP_SETUP=1 use the environment in DEEPMARK_VENV as it is (no tools/setup_env.sh)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -n "${FLD_SKIP_SETUP:-}" ] || bash "$REPO/tools/setup_env.sh"
PY=${DEEPMARK_VENV:-$REPO/.venv}/bin/python
cd "$REPO"
PHOTOS=${FLD_PHOTOS:-../shared/fashion-landmarks/fld_lab_photos}
WORK=${FLD_WORK:-work_dirs/fld_lab}
CONFIG=configs/deepmark/deepmark_lite_1xb8-1200it_fld-lab-256.py
step() { printf '\n=== [fld %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
[ -f "$PHOTOS/labels.csv" ] || { echo "no $PHOTOS/labels.csv (set FLD_PHOTOS)" >&2; exit 2; }

step "converting $PHOTOS/labels.csv -> data/fld_lab_photos/"
"$PY" tools/dataset_converters/fld_lab_photos_to_coco.py "$PHOTOS" data/fld_lab_photos
photo_opt="photo_root=${PHOTOS%/}/ train_dataloader.dataset.datasets.0.data_prefix.img=${PHOTOS%/}/"
photo_opt="$photo_opt train_dataloader.dataset.datasets.1.data_prefix.img=${PHOTOS%/}/"
photo_opt="$photo_opt test_dataloader.dataset.datasets.0.data_prefix.img=${PHOTOS%/}/"
photo_opt="$photo_opt test_dataloader.dataset.datasets.1.data_prefix.img=${PHOTOS%/}/"
photo_opt="$photo_opt val_dataloader.dataset.datasets.0.data_prefix.img=${PHOTOS%/}/"
photo_opt="$photo_opt val_dataloader.dataset.datasets.1.data_prefix.img=${PHOTOS%/}/"

for start in imagenet scratch; do
  dir=$WORK/$start
  opts="$photo_opt ${FLD_CFG_OPTIONS:-}"
  [ "$start" = scratch ] && opts="$opts model.backbone.pretrained=False"
  if [ ! -f "$dir/final.pth" ]; then
    step "training ($start start): tools/train.py $CONFIG"
    # shellcheck disable=SC2086
    "$PY" tools/train.py "$CONFIG" --work-dir "$dir" --cfg-options $opts
    cp "$(cat "$dir/last_checkpoint")" "$dir/final.pth"
  fi
  step "testing ($start start) on the 27 held-out photos"
  # shellcheck disable=SC2086
  "$PY" tools/test.py "$CONFIG" "$dir/final.pth" --work-dir "$dir/test" --cfg-options $photo_opt
done

step "drawing the ImageNet model's predictions on 6 held-out photos into $WORK/vis"
mkdir -p "$WORK/vis_inputs"
"$PY" - "$WORK/vis_inputs" "$PHOTOS" <<'PY'
import json, os, sys
out, photos = sys.argv[1:]
names = sorted(img['file_name'] for kind in ('upper', 'lower')
               for img in json.load(open(f'data/fld_lab_photos/fld_{kind}_test.json'))['images'])
for name in names[::5][:6]:  # both types: the test photos in name order, every fifth
    target = os.path.join(out, name)
    if not os.path.exists(target):
        os.symlink(os.path.abspath(os.path.join(photos, name)), target)
PY
"$PY" tools/demo/image_demo.py "$WORK/vis_inputs" "$CONFIG" "$WORK/imagenet/final.pth" \
  --out-dir "$WORK/vis" --score-thr 0.3 --max-draw-size 480

step "results on the 27 held-out lab photos"
"$PY" - "$WORK" <<'PY'
import glob, json, os, sys
work = sys.argv[1]
print(f'{"start":10s} {"box mAP":>8s} {"lmk mAP":>8s} {"PCK@0.2":>8s} {"AUC":>6s} {"EPE px":>7s} {"matched":>8s}')
for start in ('imagenet', 'scratch'):
    log = sorted(glob.glob(os.path.join(work, start, 'test', '*', '*.json')))[-1]
    m = json.loads(open(log).read().strip().splitlines()[-1])
    print(f'{start:10s} {m["fld/bbox_mAP"]:8.4f} {m["fld/kpt_mAP"]:8.4f} {m["matched/PCK"]:8.4f} '
          f'{m["matched/AUC"]:6.4f} {m["matched/EPE"]:7.2f} {m["matched/matched"]:8.4f}')
PY
