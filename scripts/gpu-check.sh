#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, a CUDA PyTorch in python3, nvcc-free C++ toolchain, no
# Node.js and no network (the device machine some sessions are lent), build the addon against that PyTorch's
# libtorch, run every method's parity test on CUDA in fp32, fp16, amp and bf16, a short MPL training whose loss
# must fall, and the training / zero-shot benchmarks beside plain PyTorch in the same precision on the same
# card; print one summary (also written to $OUT/summary.txt).
#
#   bash scripts/gpu-check.sh prepare      here (Node.js, the built dist/): writes .gpu/
#   bash scripts/gpu-check.sh run          there, from the repository root, with .gpu/ and dist/ carried
#
# `prepare` packs what the GPU machine lacks into .gpu/ (about 35 MB, git-ignored): the node binary (xz), the
# N-API headers, the runtime node_modules. The golden reference vectors travel with the working tree
# (test/fixtures/shared, made ready by the tests themselves; MPL_SHARED_DIR still overrides them). `run` needs
# python3 with torch (CUDA), g++ and xz. GPU_CHECK_DEVICE=cpu runs the same steps on a CPU (a dry run of the script itself).
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
PAY=.gpu

if [ "$mode" = prepare ]; then
  set -e
  rm -rf "$PAY" && mkdir -p "$PAY"
  [ -f dist/src/index.js ] || npx tsc -p tsconfig.json
  xz -T0 -6 -c "$(command -v node)" > "$PAY/node.xz"
  inc="$(dirname "$(command -v node)")/../include/node"
  tar cJf "$PAY/node-api-headers.tar.xz" -C "$inc" $(cd "$inc" && ls node_api*.h js_native_api*.h)
  tar cf - --exclude='node_modules/typescript' --exclude='node_modules/@typescript' --exclude='node_modules/@types' node_modules | xz -T0 -6 > "$PAY/node_modules.tar.xz"
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  du -sh "$PAY" dist
  echo "carry: .gpu and dist; command: bash scripts/gpu-check.sh run"
  exit 0
fi

OUT=${OUT:-/tmp/gpu-check-out}
mkdir -p "$OUT"
DEVICE=${GPU_CHECK_DEVICE:-cuda}
WORK=/tmp/mpl-gpu
mkdir -p "$WORK/bin" "$WORK/include"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/steps.log"; }
status=0
step() { # step NAME COMMAND...: runs, records the exit code, never stops the script
  local name=$1; shift
  log "$name"
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc" >> "$OUT/steps.log"
  [ $rc -eq 0 ] || { status=1; tail -n 40 "$OUT/$name.log"; }
  return $rc
}

log "unpack"
if ! command -v node >/dev/null 2>&1; then
  xz -dc "$PAY/node.xz" > "$WORK/bin/node" && chmod +x "$WORK/bin/node"
  export PATH="$WORK/bin:$PATH"
fi
[ -d node_modules/commander ] || tar xJf "$PAY/node_modules.tar.xz"
tar xJf "$PAY/node-api-headers.tar.xz" -C "$WORK/include"
PY=${PYTHON:-$(command -v python3)}
export PYTHON="$PY"
export MPL_BENCH_PYTHON="${MPL_BENCH_PYTHON:-$PY}"

step build node native/build.js --out build/Release/mpl_torch.node --node-include "$WORK/include" || { cat "$OUT/steps.log"; exit 1; }
step env node bin/mpl.js env --json
cp "$OUT/env.log" "$OUT/env.json" 2>/dev/null
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/nvidia-smi.txt" 2>/dev/null
"$MPL_BENCH_PYTHON" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' > "$OUT/torch.txt" 2>&1

rm -f "$OUT/parity.jsonl"
step parity env MPL_TEST_DEVICE=$DEVICE MPL_TEST_PRECISIONS=${GPU_CHECK_PRECISIONS:-fp32,fp16,amp,bf16} MPL_PARITY_REPORT="$OUT/parity.jsonl" \
  node --test --test-concurrency=1 dist/test/prompting/parity.test.js
step training env MPL_TEST_DEVICE=$DEVICE MPL_TEST_PRECISIONS=${GPU_CHECK_PRECISIONS:-fp32,fp16,amp,bf16} node --test --test-concurrency=1 dist/test/train/trainer.test.js
bench_device=$DEVICE
[ "$DEVICE" = cuda ] && bench_device=cuda:0
for p in ${GPU_CHECK_BENCH_PRECISIONS:-fp16 fp32}; do
  step "bench-train-$p" node bin/mpl.js bench train --device $bench_device --precision $p --json ${GPU_CHECK_BENCH_ARGS:-}
  step "bench-zeroshot-$p" node bin/mpl.js bench zeroshot --device $bench_device --precision $p --json
done
node scripts/gpu-summary.js "$OUT" | tee "$OUT/summary.txt"
exit $status
