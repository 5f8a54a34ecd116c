#!/usr/bin/env bash
# Download the wheels `transformers serve` needs on the GPU machine (Python 3.12, x86_64, no
# network there): fastapi, uvicorn, pydantic, openai and everything they pull in, ~6.5 MB.
# Run it here (where PyPI answers); then carry .cache/gpu-wheels with the device command
# (benchmarks/gpu/README.md). run_gpu_sweep.py unpacks only what the GPU machine lacks.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest="${1:-.cache/gpu-wheels}"
pip="${PIP:-.venv/bin/pip}"
mkdir -p "$dest"
"$pip" download --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  --platform any -d "$dest" fastapi uvicorn pydantic openai
ls -1 "$dest"
du -sh "$dest"
