#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, a CUDA PyTorch in python3, nvcc-free C++ toolchain, no
# Node.js and no network (the device machine some sessions are lent), build the addon against that PyTorch's
# libtorch, run every method's parity test on CUDA in fp32, fp16, amp and bf16, a short MPL training whose loss
# must fall, the training benchmark in fp16 at 5, 50 and 500 classes and in fp32 (images/s and peak GPU memory
# of both sides) and the zero-shot benchmark beside plain PyTorch in the same precision on the same card, and
# the offline quickstart on the GPU and on the CPU; print one summary (also written to $OUT/summary.txt).
#
#   bash scripts/gpu-check.sh prepare      here (Node.js, the built dist/): writes .gpu/
#   bash scripts/gpu-check.sh run          there, from the repository root, with .gpu/ carried
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
  # left here: development packages (the compiler, type declarations, the fuzz and browser test drivers) and
  # the PDF writer with its font stack (imported only when a figure is written as .pdf)
  skip=(typescript @typescript @types playwright-core fast-check pdfkit svg-to-pdfkit fontkit @swc @noble fflate brotli
    restructure unicode-properties unicode-trie linebreak png-js dfa tiny-inflate pako clone)
  tar cf - "${skip[@]/#/--exclude=node_modules/}" node_modules | xz -T0 -9 > "$PAY/node_modules.tar.xz"
  tar cf - dist | xz -T0 -9 > "$PAY/dist.tar.xz"
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  # The device takes at most 64 MiB of working tree per call: the tracked files (test fixtures and the tiny
  # CLIP included) plus what is carried. Say so here rather than after a refused call.
  tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s}')
  carried=$(du -cb "$PAY" | tail -1 | cut -f1)
  total=$((tracked + carried))
  echo "tracked files $((tracked / 1048576)) MiB + .gpu $((carried / 1048576)) MiB = $((total / 1048576)) MiB of the device's 64 MiB"
  [ "$total" -le $((64 * 1048576)) ] || { echo "gpu-check: over the 64 MiB the device takes per call" >&2; exit 1; }
  echo "carry: .gpu; command: bash scripts/gpu-check.sh run"
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
# the JavaScript built here, always this prepare's (a warm machine may keep an older dist/)
if [ -f "$PAY/dist.tar.xz" ]; then rm -rf dist && tar xJf "$PAY/dist.tar.xz"; fi
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
# the training benchmark in fp16 (the official GPU recipe) at 5, 50 and 500 classes (ImageNet's base half):
# images/s and each side's peak GPU memory, beside the official computation in PyTorch fp16 on the same card
# (a CPU dry run takes fp32: fp16 is refused on a CPU, the GPU recipe)
train_p=fp16
[ "$DEVICE" = cpu ] && train_p=fp32
for c in ${GPU_CHECK_CLASSES:-5 50 500}; do
  step "bench-train-$train_p-c$c" node bin/mpl.js bench train --device $bench_device --precision $train_p --classes $c --json ${GPU_CHECK_BENCH_ARGS:-}
done
[ "$train_p" = fp32 ] || step "bench-train-fp32-c5" node bin/mpl.js bench train --device $bench_device --precision fp32 --classes 5 --json ${GPU_CHECK_BENCH_ARGS:-}
for p in ${GPU_CHECK_BENCH_PRECISIONS:-fp16 fp32}; do
  step "bench-zeroshot-$p" node bin/mpl.js bench zeroshot --device $bench_device --precision $p --json
done
# the offline quickstart on the device and on the CPU of the same machine: the same accuracy within the
# documented tolerance (docs/precision.md; the summary prints both and the difference)
rm -rf "$WORK/quickstart-device" "$WORK/quickstart-cpu"
step quickstart-device node bin/mpl.js quickstart --offline --device $bench_device --out "$WORK/quickstart-device" --json
step quickstart-cpu node bin/mpl.js quickstart --offline --device cpu --precision fp32 --out "$WORK/quickstart-cpu" --json
node scripts/gpu-summary.js "$OUT" | tee "$OUT/summary.txt"
exit $status
