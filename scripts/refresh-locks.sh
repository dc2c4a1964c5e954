#!/bin/sh
# Resolves labeler's dependency ranges (pyproject.toml, every extra) and the test tools'
# requirements (locks/*.in) afresh, each in an empty venv, and writes every version that came
# into locks/. Then run the README's test command, and commit locks/ when it passes: the locks
# hold the versions the suite last passed with.
#   usage: sh scripts/refresh-locks.sh            (about ten minutes; needs the package index)
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

header() {
    echo "# $1"
    echo "# Every package pinned: the versions the test suite last passed with."
    echo "# Made by scripts/refresh-locks.sh on $(date -u +%Y-%m-%d) with Python $(python3 -c \
'import platform; print(platform.python_version())') on $(uname -m) Linux; do not edit by hand."
}

python3 -m venv "$work/labeler"
"$work/labeler/bin/pip" install -q --disable-pip-version-check -U pip "setuptools>=68"
"$work/labeler/bin/pip" install -q --disable-pip-version-check ".[train,dev]"
freeze=$("$work/labeler/bin/pip" freeze --all --exclude labeler --exclude pip)
# The worker images and other platforms take the CPU onnxruntime of the same release.
ort=$(echo "$freeze" | sed -n 's/^onnxruntime-gpu==//p')
{
    header "labeler's own installs (pip constraints: pip install -c locks/labeler.txt ...)"
    echo "$freeze"
    echo "onnxruntime==$ort"
} > locks/labeler.txt

for input in locks/*.in; do
    tool=$(basename "$input" .in)
    python3 -m venv "$work/$tool"
    "$work/$tool/bin/pip" install -q --disable-pip-version-check -r "$input"
    {
        header "$tool for the integration tests (from $input)"
        "$work/$tool/bin/pip" freeze --all --exclude pip
    } > "locks/$tool.txt"
done
git --no-pager diff --stat -- locks/ 2>/dev/null || true
echo "locks/ refreshed: now run the test command, and commit locks/ if it passes"
