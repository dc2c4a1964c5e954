#!/usr/bin/env bash
# The GPU check from a prepared folder, on a GPU host with no package index:
#   scripts/gpu-check.sh WHEELS DATA/test [--provider tensorrt]
# WHEELS holds labeler's wheel and its runtime dependencies (made beforehand, elsewhere, with
#   pip wheel . -w WHEELS   and   pip download onnxruntime-gpu -d WHEELS);
# CUDA 13 and cuDNN 9 come from the host or from nvidia-* wheels in WHEELS, which
# onnxruntime's preload_dlls() finds.
set -euo pipefail
wheels=${1:?folder of wheels}; data=${2:?folder of images}; shift 2
venv=${GPU_CHECK_VENV:-/tmp/labeler-gpu-check}
python3 -m venv "$venv"
"$venv/bin/pip" install -q --no-index --find-links "$wheels" labeler
cd "$(dirname "$0")/.." && "$venv/bin/python" scripts/gpu_check.py "$data" "$@"
