#!/usr/bin/env bash
# Reproduces the shipped demo model (demo/): the data, the tokenizer, the training run(s) and the BF16 export.
#   bash scripts/demo-train.sh [MINUTES]    (default 58: a time budget, the decay starts at 80% of it)
# The run checkpoints to data/demo-ckpt every 10 steps; started again, it resumes there (same batches, same schedule),
# so a long training is several shorter runs (each resumed run gets its own time budget; --steps N fixes the length).
# Training runs niced (the machine is shared) with passive OpenMP waits (spinning threads of a niced process only
# burn the time slices it gets). `make demo` never runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-58}
bin=build/minimax
[ -x "$bin" ] || make -j2
bash scripts/demo-data.sh data/demo
[ -f data/demo/tokenizer.json ] || "$bin" train-tokenizer -f data/demo/train.txt -o data/demo/tokenizer.json --vocab 4096
resume=()
[ -f data/demo-ckpt/trainer_state.json ] && resume=(--resume)
OMP_WAIT_POLICY=passive nice -n 19 "$bin" train "${resume[@]}" -f data/demo/train.txt --heldout data/demo/heldout.txt \
  --tokenizer data/demo/tokenizer.json -o data/demo-ckpt -b 4 --seq 256 --steps 100000 --time-limit "$minutes" \
  --eval-every 50 --eval-windows 8 --save-every 10 --log data/demo/evals.tsv -t "$(nproc)" --export demo
