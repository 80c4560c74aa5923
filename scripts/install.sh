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
packages=(libtorch-dev libopenblas0-openmp libblas3 g++ make python3)
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

npm ci --no-audit --no-fund
