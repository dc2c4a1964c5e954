#!/bin/sh
# The whole test suite, in the order that says why soonest: lint, then the tests that take
# seconds, then the slow ones (a real Label Studio, a worker image build), each run listing its
# 20 slowest tests. Run from the checkout's root with the venv the README's test command makes.
set -eu
cd "$(dirname "$0")/.."
sh tests/install-tools.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest -ra --durations=20 -m "not slow"
.venv/bin/python -m pytest -ra --durations=20 -m slow
