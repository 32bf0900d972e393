#!/bin/sh
# Rebuilds models/demo and tests/data/demo from nothing: tokenizer, held-out set, training, export, cases, accuracy.
# Usage: tools/demo_model/make_demo.sh [RUN_DIR]   (RUN_DIR keeps the training checkpoints; default /tmp/demo_run)
# Training is one run of 1,000 steps from random weights, 45-50 minutes on 2 cores (README.md).
set -e
cd "$(dirname "$0")"
PY=/usr/bin/python3
MODEL=../../models/demo
RUN=${1:-/tmp/demo_run}

# torch here links the system libblas.so.3; Debian's default one (netlib) is ~12x slower than OpenBLAS.
# Use OpenBLAS without touching the system: the installed package if present, else the .deb unpacked in /tmp.
OPENBLAS=/usr/lib/x86_64-linux-gnu/openblas-pthread
if [ ! -e $OPENBLAS/libblas.so.3 ]; then
  if [ ! -e /tmp/openblas$OPENBLAS/libblas.so.3 ]; then
    (cd /tmp && apt-get download libopenblas0-pthread && dpkg -x libopenblas0-pthread_*.deb /tmp/openblas)
  fi
  OPENBLAS=/tmp/openblas$OPENBLAS
fi
export LD_LIBRARY_PATH=$OPENBLAS
export OMP_WAIT_POLICY=PASSIVE  # spinning OpenMP threads cost 2-3x on a machine shared with compiles

$PY check_golden.py
$PY build_tokenizer.py $MODEL --vocab-size 1024 --seed 1234
mkdir -p $MODEL/eval
$PY data.py $MODEL
# Quoted answers (a two-step answer repeats the question's words before its third number), drawn toward
# two-step problems; the answers' digits weigh 4 in the loss, other answer tokens 1, the rest 0.25.
$PY train.py --model-dir $MODEL --out-dir "$RUN/quoted" --style final-quoted-weak --context-weight 0.25 \
  --number-weight 4 --steps 1000 --warmup 50 --lr 3e-3 --seed 21
$PY export.py --checkpoint "$RUN/quoted/last.pt" --model-dir $MODEL
$PY write_cases.py --model-dir $MODEL --out-dir ../../tests/data/demo
$PY evaluate.py --model-dir $MODEL
