#!/usr/bin/env bash
# Idempotent setup: Debian packages, .venv, exact pins from requirements.lock, editable install of mmgen.
# A second run only compares a stamp and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(fluidsynth libfluidsynth3 fluid-soundfont-gm timgm6mb-soundfont chromium)  # chromium: app browser tests
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || { echo "[setup] creating .venv"; "$PY" -m venv .venv; }

# The stamp records which lock and pyproject were installed; unchanged -> nothing to do.
stamp=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ -f .setup-stamp && $(cat .setup-stamp) == "$stamp" ]]; then
  exit 0
fi
echo "[setup] installing pinned Python packages (requirements.lock, --no-deps: basic-pitch would pull TensorFlow)"
.venv/bin/python -m pip install -q --upgrade "pip>=24" "setuptools>=70,<81" wheel
# torch first, pinned: an unpinned resolver run would fetch a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q --no-deps -r requirements.lock
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
.venv/bin/python -m pip check >/dev/null 2>&1 || true  # basic-pitch's tensorflow pin is knowingly unmet
echo "$stamp" > .setup-stamp
echo "[setup] done"
