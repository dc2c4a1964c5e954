#!/usr/bin/env bash
# Export a finished training run as the shipped default bundle, then measure it for the
# README: accuracy and calibration through `labeler submit` for each precision, the engine,
# the pipeline and the enqueue rate. Run on a quiet machine (the figures are throughput).
#
#   scripts/ship-default-model.sh RUN_DIR DATA_DIR [NAME]
#   e.g. scripts/ship-default-model.sh runs/cifar10-resnet /work/data/cifar10 cifar10-resnet
#   EXPORT_FLAGS=--flip-average scripts/ship-default-model.sh ...   (extra `labeler export` flags)
#   TRAIN_LOG=runs/x.log scripts/ship-default-model.sh ...   (ship the run's console log too)
# Afterwards only the README's tables and prose are left to edit by hand.
set -euo pipefail
run=${1:?training run folder}; data=${2:?dataset folder with train/ and test/}
name=${3:-$(basename "$run")}
out=runs/ship-$name; mkdir -p "$out"
export LABELER_HOME=${LABELER_HOME:-$PWD/$out/home}
bundle=labeler/models/default

labeler export "$run/model.keras" -o "$out/bundle" --name "$name" --precision fp32,fp16,int8 \
    --eval "$data/test" ${EXPORT_FLAGS:-} | tee "$out/export.txt"
rm -rf "$bundle" && cp -r "$out/bundle" "$bundle"
if [ -n "${TRAIN_LOG:-}" ]; then
    # TensorFlow's start-up chatter and the time-to-go lines say nothing about the model.
    { echo "# console log of $run; its command and settings are in state.json beside this file"
      grep -v -E '^(WARNING: All log messages|I0000 |To enable the following|checkpoint [0-9]+/[0-9]+:)' \
          "$TRAIN_LOG"; } > "$bundle/training/train.log"
fi
# The run's record, kept in git because runs/ is not: curves, history, split, calibration.
record=docs/runs/$(basename "$run" | sed 's/^cifar10-//')
mkdir -p "$record"
cp "$run"/{calibration,history,state,summary}.json "$run/curves.png" "$record/"
# The KEDA trigger watches the shipped model's queue (tests/test_deploy_files.py checks it).
sed -i -E "s/labeler\.[A-Za-z0-9_-]+\.auto/labeler.$name.auto/g" deploy/k8s/worker.yaml

for precision in fp32 fp16 int8; do
    labeler submit "$data/test" --wait --precision "$precision" --json > "$out/submit-$precision.json" || true
    job=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['job'])" "$out/submit-$precision.json")
    labeler score "$job" --report "$out/score-$precision" | tee "$out/score-$precision.txt"
done
cp "$out/score-fp32/confusion.png" docs/confusion-fp32.png
cp "$out/score-fp32/reliability.png" docs/reliability-fp32.png

labeler bench model --batch-sizes 1,8,32,64,128,256,512 --json --plot docs/bench-model.png \
    > "$out/bench-model.json"
labeler bench model --batch-sizes 64 --threads 1 --no-keras --json > "$out/bench-model-1thread.json"
labeler bench pipeline "$data/test" --precision fp32 --json --plot docs/bench-pipeline.png \
    > "$out/bench-pipeline-fp32.json"
labeler bench pipeline "$data/test" --precision int8 --habit 0 --json > "$out/bench-pipeline-int8.json"
labeler bench decode --synthetic 12 --megapixels 12 --json > "$out/bench-decode-12mp.json"

many=$out/100k; mkdir -p "$many"
python3 - "$data/test" "$many" <<'PY'
import os, sys
src, dst = sys.argv[1:]
files = [os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs]
for i in range(100_000):
    sub = os.path.join(dst, f"{i // 1000:03d}")
    os.makedirs(sub, exist_ok=True)
    target = os.path.join(sub, f"{i:06d}.jpg")
    if not os.path.exists(target):
        os.link(files[i % len(files)], target)
PY
LABELER_HOME=$out/home-100k labeler submit "$many" --json --no-spawn > "$out/submit-100k.json"
LABELER_HOME=$out/home-100k labeler forget "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['job'])" "$out/submit-100k.json")"
# The README's screenshot shows the shipped model's labels.
LABELER_SCREENSHOT=docs/web-page.png python3 -m pytest -q tests/web/test_browser.py
echo "done: figures in $out, record in $record; now update the README's tables"
