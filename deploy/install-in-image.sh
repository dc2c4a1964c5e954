#!/bin/sh
# Installs labeler into /opt/labeler in a worker image's build stage, from the checkout copied to
# /src (what .dockerignore lets through).   usage: install-in-image.sh cpu|gpu 0|1
# With 1 (offline) pip reads only /src/wheelhouse (made by deploy/wheelhouse.sh).
set -eu
variant=$1 offline=$2
if [ "$offline" = 1 ]; then
    export PIP_NO_INDEX=1 PIP_FIND_LINKS=/src/wheelhouse
fi
python3 -m venv /opt/labeler
python3 /src/deploy/image_requirements.py "$variant" > /tmp/requirements.txt
# The versions the test suite last passed with (locks/labeler.txt), not whatever is newest.
/opt/labeler/bin/pip install --no-cache-dir --disable-pip-version-check -q \
    -c /src/locks/labeler.txt -r /tmp/requirements.txt
/opt/labeler/bin/pip install --no-cache-dir --disable-pip-version-check -q --no-deps /src
# Nothing installs into the image after this; the compiled bytecode stays (a non-root worker
# could not write it, and would compile everything at each start).
/opt/labeler/bin/pip uninstall -q -y pip setuptools 2>/dev/null || true
# Libraries' own test suites and onnxruntime's model-optimisation tooling (labeler export uses
# it, with the train extra, never a worker): 20 MB no worker runs.
site=$(/opt/labeler/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
find "$site" -type d -name tests -prune -exec rm -rf {} +
rm -rf "$site/onnxruntime/transformers" "$site/onnxruntime/quantization" "$site/onnxruntime/tools"
rm -f /tmp/requirements.txt
