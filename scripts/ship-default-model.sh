#!/usr/bin/env bash
# Export a finished training run as the shipped default bundle, then measure it for the
# README: accuracy and calibration through `labeler submit` for each precision, the engine,
# the pipeline and the enqueue rate. Run on a quiet machine (the figures are throughput).
#
#   scripts/ship-default-model.sh RUN_DIR DATA_DIR [NAME]
#   e.g. scripts/ship-default-model.sh runs/cifar10-resnet /work/data/cifar10 cifar10-resnet
#   EXPORT_FLAGS=--flip-average scripts/ship-default-model.sh ...   (extra `labeler export` flags)
set -euo pipefail
run=${1:?training run folder}; data=${2:?dataset folder with train/ and test/}
name=${3:-$(basename "$run")}
out=runs/ship-$name; mkdir -p "$out"
export LABELER_HOME=${LABELER_HOME:-$PWD/$out/home}
bundle=labeler/models/default

labeler export "$run/model.keras" -o "$out/bundle" --name "$name" --precision fp32,fp16,int8 \
    --eval "$data/test" ${EXPORT_FLAGS:-} | tee "$out/export.txt"
rm -rf "$bundle" && cp -r "$out/bundle" "$bundle"

for precision in fp32 fp16 int8; do
    labeler submit "$data/test" --wait --precision "$precision" --json > "$out/submit-$precision.json" || true
    job=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['job'])" "$out/submit-$precision.json")
    labeler score "$job" --report "$out/score-$precision" | tee "$out/score-$precision.txt"
done

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
echo "done: figures in $out"
