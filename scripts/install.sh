#!/usr/bin/env bash
# Installs everything modular-prompt-learning needs on Debian/Ubuntu, then the npm dependencies, the
# native addon (node-gyp, during `npm ci`) and the TypeScript build. Idempotent; run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# libtorch (CPU) from Debian, OpenBLAS as the BLAS (the reference BLAS is ~25x slower), a C++ toolchain
# for the addon, python3 for node-gyp. Node.js >= 20 must come from the distribution (Debian 13) or NodeSource.
# libblas3 (the reference BLAS) is installed beside OpenBLAS only so the tests can check that a slow BLAS is
# detected (LD_PRELOAD in a child process); OpenBLAS keeps the higher alternatives priority.
# For the tests: python3-torch (PyTorch 1.13: exported Dassl checkpoints are loaded and evaluated by real
# PyTorch; also the benchmarks' baselines) and chromium (the HTML report is opened in a headless browser).
packages=(libtorch-dev libopenblas0-openmp libblas3 g++ make python3 python3-venv xz-utils python3-torch chromium)
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "Node.js >= 20 is required (found $(node --version)). On Debian 12 use NodeSource's nodejs 20 or 22." >&2
  exit 1
fi

# A second build of the addon against PyPI's libtorch 2.x (its CPU libraries; the CUDA wheel's GPU libraries
# are not installed), so that `npm test` runs the engine and numerics tests against both libtorch generations.
# The versions are pinned: torch's wheel needs exactly these CUDA runtime/CUPTI packages even for its CPU
# library. A user's own CUDA PyTorch is what the main build links (native/find-libtorch.js); this one is for
# the tests. MPL_SKIP_LIBTORCH2=1 skips it (npm test then says it tests the main build only). The wheel (540 MB)
# downloads in the background while npm ci compiles the main addon.
TORCH2_VERSION=2.15.0
CUDA_RUNTIME_VERSION=13.2.86
venv=.cache/libtorch2
torch2_pid=""
if [ "${MPL_SKIP_LIBTORCH2:-}" != 1 ] && [ ! -f "$venv/installed-$TORCH2_VERSION" ]; then
  echo "installing torch $TORCH2_VERSION from PyPI into $venv (libtorch 2.x for the tests), beside npm ci"
  (
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-compile \
      "torch==$TORCH2_VERSION" "nvidia-cuda-runtime==$CUDA_RUNTIME_VERSION.*" "nvidia-cuda-cupti==$CUDA_RUNTIME_VERSION.*"
    touch "$venv/installed-$TORCH2_VERSION"
  ) &
  torch2_pid=$!
fi

npm ci --no-audit --no-fund
# the formatter and linter `npm test` runs on changed files (scripts/lint-changed.js); a package of its own (tools/lint/package.json says why)
npm ci --prefix tools/lint --no-audit --no-fund

if [ "${MPL_SKIP_LIBTORCH2:-}" != 1 ]; then
  if [ -n "$torch2_pid" ] && ! wait "$torch2_pid"; then
    echo "installing torch $TORCH2_VERSION from PyPI failed (see above); MPL_SKIP_LIBTORCH2=1 skips the libtorch 2.x test build" >&2
    exit 1
  fi
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # outside build/: node-gyp rebuild (npm install / npm rebuild) empties build/
  MPL_NO_CUDA=1 node native/build.js --libtorch "$site/torch" --out "$venv/addon/mpl_torch.node"
fi
