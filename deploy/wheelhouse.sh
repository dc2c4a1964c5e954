#!/bin/sh
# Wheels for an offline worker image build, into wheelhouse/ at the checkout's root: the
# image's requirements and the build backend, for the image's Python (default 3.12, the
# default base image's) on x86_64 Linux.   usage: deploy/wheelhouse.sh cpu|gpu [PYTHON]
set -eu
variant=${1:?cpu or gpu} python=${2:-3.12}
cd "$(dirname "$0")/.."
mkdir -p wheelhouse
# pip download judges `python_full_version` markers by this host's Python, not --python-version:
# what redis needs below Python 3.11.3 (Debian 12 has 3.11.2) comes along either way.
FULL_VERSION_ONLY="async-timeout>=4.0.3"
python3 deploy/image_requirements.py "$variant" > wheelhouse/requirements.txt
python3 -m pip download -q --disable-pip-version-check -d wheelhouse --only-binary=:all: \
    --python-version "$python" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 \
    -c locks/labeler.txt -r wheelhouse/requirements.txt "setuptools>=68" $FULL_VERSION_ONLY
echo "wheelhouse/: $(ls wheelhouse | grep -c '\.whl$') wheels for $variant, Python $python"
