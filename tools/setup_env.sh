#!/usr/bin/env bash
# Create (or reuse) the Python environment deepmark_mm runs in, on a machine with nothing but
# Python 3.11 and the package registries. Idempotent: a second run only checks a stamp and
# (re)installs the plugin from this checkout.
#
#   bash tools/setup_env.sh          # -> .venv/ (override with DEEPMARK_VENV=/path/to/venv)
#
# Environment variables:
#   PYTHON          interpreter that creates the venv (default: python3.11, else python3)
#   DEEPMARK_VENV   where the venv lives (default: <repo>/.venv)
#   DEEPMARK_MMCV   lite (default: mmcv-lite, nothing compiled) or full (build mmcv's compiled ops)
#   DEEPMARK_CACHE  where a full mmcv wheel is kept across clones (default: ~/.cache/deepmark_mm)
#   MAX_JOBS        parallel compile jobs for a full mmcv build (default: 2)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi
VENV=${DEEPMARK_VENV:-$REPO/.venv}
CACHE=${DEEPMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deepmark_mm}
CONSTRAINTS=$REPO/requirements/constraints.txt
TORCH_SPEC="torch==2.14.1 torchvision==0.29.1"
MMCV_VERSION=2.1.0
export MAX_JOBS=${MAX_JOBS:-2}

log() { printf '[setup_env %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

stamp_of() {  # everything that decides what is installed
  { cat "$REPO/tools/setup_env.sh" "$REPO"/requirements/*.txt; echo "mmcv=${DEEPMARK_MMCV:-lite}"; } \
    | sha256sum | cut -d' ' -f1
}

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
PY=$VENV/bin/python
pip_install() {  # quiet, pinned; hide pip's notes about local index folders and
  # mmpose's chumpy (left out on purpose: it does not build)
  "$PY" -m pip install --disable-pip-version-check -q -c "$CONSTRAINTS" "$@" 2>&1 \
    | { grep -v -e "is ignored: it is neither a file nor a directory" \
        -e "dependency resolver does not currently take into account" -e "requires chumpy" \
        || true; }
  return "${PIPESTATUS[0]}"
}

STAMP=$VENV/.deepmark_setup_stamp
if [ "$(cat "$STAMP" 2>/dev/null)" != "$(stamp_of)" ]; then
  log "installing build tools"
  pip_install "setuptools>=77.0.3,<80" wheel ninja psutil cython
  log "installing $TORCH_SPEC"
  pip_install $TORCH_SPEC
  pip_install "mmengine==0.10.7"

  # mmcv: the pure-Python mmcv-lite by default (no compile; deepmark_mm supplies NMS, soft-NMS
  # and DCNv2 on torchvision kernels). A full mmcv already in this venv is detected and kept.
  # DEEPMARK_MMCV=full builds full mmcv from source instead (CPU ops; about 11 minutes on 2 cores,
  # the wheel cached in $CACHE).
  if "$PY" -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("mmcv._ext") else 1)' 2>/dev/null; then
    log "full mmcv (compiled ops) found in $VENV: keeping it"
  elif [ "${DEEPMARK_MMCV:-lite}" = full ]; then
    TORCH_TAG=$("$PY" -c 'import sys, torch; print("torch%s-py%d%d" % ((torch.__version__.split("+")[0],) + sys.version_info[:2]))')
    WHEELS=$CACHE/wheels/$TORCH_TAG
    mkdir -p "$WHEELS"
    if ! ls "$WHEELS"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
      log "building full mmcv $MMCV_VERSION from source (cached in $WHEELS)"
      BUILD=$(mktemp -d)
      "$PY" -m pip download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
      tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
      # mmcv 2.1.0 hard-codes C++17; torch >= 2.10 headers require C++20.
      sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
      (cd "$BUILD/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 FORCE_CUDA=${FORCE_CUDA:-0} \
        "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WHEELS" .)
      rm -rf "$BUILD"
    fi
    "$PY" -m pip uninstall -q -y mmcv-lite 2>/dev/null || true
    pip_install "$WHEELS"/mmcv-$MMCV_VERSION-*.whl
  else
    log "installing mmcv-lite $MMCV_VERSION (pure Python)"
    pip_install "mmcv-lite==$MMCV_VERSION"
  fi

  log "installing mmdet, mmpose (without chumpy) and friends"
  pip_install "mmdet==3.3.0"
  pip_install json_tricks munkres matplotlib opencv-python pillow scipy timm openmim pycocotools
  # The registry wheel of xtcocotools is built against numpy 1 ("numpy.dtype size changed").
  pip_install --no-binary xtcocotools --no-build-isolation "xtcocotools==1.14.3"
  pip_install --no-deps "mmpose==1.3.2"
  pip_install -r "$REPO/requirements/onnx.txt" -r "$REPO/requirements/tests.txt" \
    -r "$REPO/requirements/pretrained.txt"
  stamp_of > "$STAMP"
  log "environment ready"
else
  log "reusing $VENV"
fi

# The plugin itself, editable, from this checkout, without re-resolving its dependencies.
# (asked from / so that a deepmark_mm/ folder in the current directory does not answer instead)
here=$(cd / && "$PY" -c 'import deepmark_mm, os; print(os.path.dirname(os.path.dirname(os.path.realpath(deepmark_mm.__file__))))' 2>/dev/null || true)
if [ "$here" != "$REPO" ]; then
  log "installing deepmark_mm from $REPO (editable, --no-deps)"
  (cd "$REPO" && "$PY" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .)
fi
