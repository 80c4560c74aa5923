#!/usr/bin/env bash
# Test-only: a Python venv with PyPI's TensorBoard, which reads back the event files runs write
# (test/tensorboard/events.test.ts). Not needed to use the tool; .ci/run makes it, `npm test` expects it.
# Idempotent; the version is pinned so that CI tests against a known reader.
set -euo pipefail
cd "$(dirname "$0")/.."
TENSORBOARD_VERSION=2.21.0
venv=.cache/tensorboard-venv
if [ -f "$venv/installed-$TENSORBOARD_VERSION" ]; then exit 0; fi
echo "installing tensorboard $TENSORBOARD_VERSION from PyPI into $venv (test-only: reads the runs' event files back)"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "tensorboard==$TENSORBOARD_VERSION"
touch "$venv/installed-$TENSORBOARD_VERSION"
