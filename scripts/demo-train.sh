#!/usr/bin/env bash
# Reproduces the shipped demo model (demo/) exactly: the data, the tokenizer, the two training runs and the BF16 export.
#   bash scripts/demo-train.sh
# The demo model was trained in two runs. The first (steps 0-190) used --steps 100000 with a time budget, so its
# warmup was 2% of 100000 steps (a learning rate still below 1e-4 at step 190); the second resumed it with a 300-step
# warmup and a 48-minute budget, whose decay phase began at step 887 and ended at 1109. Fixed step counts give the
# same schedule, batches and weights (a run depends on the seed and the steps only, not on speed or thread count).
# For a new model of your own, one run with a time budget is enough:
#   build/minimax train -f data/demo/train.txt --heldout data/demo/heldout.txt --tokenizer data/demo/tokenizer.json \
#     -o data/my-ckpt -b 4 --seq 256 --steps 100000 --warmup 300 --time-limit 60 --export my-model
# Checkpoints go to data/demo-ckpt every 10 steps; --resume continues one exactly. Training runs niced (the machine
# is shared) with passive OpenMP waits (spinning threads of a niced process burn the time slices it gets).
# `make demo` never runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/minimax
[ -x "$bin" ] || make -j2
bash scripts/demo-data.sh data/demo
[ -f data/demo/tokenizer.json ] || "$bin" train-tokenizer -f data/demo/train.txt -o data/demo/tokenizer.json --vocab 4096
common=(-f data/demo/train.txt --heldout data/demo/heldout.txt --tokenizer data/demo/tokenizer.json -o data/demo-ckpt
        --eval-every 50 --eval-windows 8 --save-every 10 --log data/demo/evals.tsv -t "$(nproc)")
train() { OMP_WAIT_POLICY=passive nice -n 19 "$bin" train "$@"; }
if [ ! -f data/demo-ckpt/trainer_state.json ]; then
  train "${common[@]}" -b 4 --seq 256 --steps 100000 --run-steps 190
fi
train "${common[@]}" --resume --warmup 300 --steps 1109 --export demo
