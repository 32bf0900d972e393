#!/bin/sh
# Rebuilds models/demo and tests/data/demo from nothing: tokenizer, held-out set, training, export, cases, accuracy.
# Usage: tools/demo_model/make_demo.sh [RUN_DIR]   (RUN_DIR keeps the training checkpoints; default /tmp/demo_run)
# Training has eight stages (README.md): harder problems with named answers, then the final style, then the
# final style drawn toward the weak kinds of problem, twice the final style again at a lower lr, two stages
# that weigh the answers' digits more, and one that quotes the question in two-step answers.
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
$PY train.py --model-dir $MODEL --out-dir "$RUN/first" --style first --context-weight 0 --steps 1100 --lr 3e-3 --seed 1
$PY train.py --model-dir $MODEL --out-dir "$RUN/final" --init-from "$RUN/first/last.pt" --style final \
  --context-weight 0.25 --steps 250 --warmup 20 --lr 1e-3 --seed 2
# Stage 3 ran its first 50 steps on a 700-step schedule, then was shortened to 100 steps (resumes at step 50).
for STEPS in "700 --stop-at 50" 100; do
  $PY train.py --model-dir $MODEL --out-dir "$RUN/weak" --init-from "$RUN/final/last.pt" --style final-weak \
    --context-weight 0.25 --warmup 30 --lr 1e-3 --seed 3 --steps $STEPS
done
$PY train.py --model-dir $MODEL --out-dir "$RUN/tail" --init-from "$RUN/weak/last.pt" --style final \
  --context-weight 0.25 --steps 150 --warmup 10 --lr 5e-4 --seed 4
$PY train.py --model-dir $MODEL --out-dir "$RUN/tail2" --init-from "$RUN/tail/last.pt" --style final \
  --context-weight 0.25 --steps 150 --warmup 10 --lr 5e-4 --seed 5
# Stages 6 and 7 weigh the answers' digits more (--number-weight): the usual mistake was a number the
# answer should have copied from its question.
$PY train.py --model-dir $MODEL --out-dir "$RUN/digits" --init-from "$RUN/tail2/last.pt" --style final \
  --context-weight 0.25 --number-weight 4 --steps 400 --warmup 20 --lr 5e-4 --seed 7
$PY train.py --model-dir $MODEL --out-dir "$RUN/digits-weak" --init-from "$RUN/digits/last.pt" --style final-weak \
  --context-weight 0.25 --number-weight 8 --steps 400 --warmup 20 --lr 3e-4 --seed 8
# Stage 8 answers in the quoted style: a two-step answer's second line repeats the question's words that lead
# to its third number, then uses it (the usual mistake after stage 7 was a third number not in the question).
$PY train.py --model-dir $MODEL --out-dir "$RUN/quoted" --init-from "$RUN/digits-weak/last.pt" \
  --style final-quoted-weak --context-weight 0.25 --number-weight 8 --steps 400 --warmup 20 --lr 5e-4 --seed 10
$PY export.py --checkpoint "$RUN/quoted/last.pt" --model-dir $MODEL
$PY write_cases.py --model-dir $MODEL --out-dir ../../tests/data/demo
$PY evaluate.py --model-dir $MODEL
