#!/bin/sh
# Summary networks against hand-made statistics (issue 7), on two problems with
# an exact posterior: normal_gamma (i.i.d. sets; deepset, set_transformer, stats)
# and ar1 (sequences; timeseries with a GRU, with an LSTM, stats). Per problem:
# seconds per training epoch, C2ST against the exact posterior at three sizes
# (the largest beyond the training sizes), and the calibration verdicts (SBC,
# coverage) and TARP area on a prior-predictive test set, beside those of the
# exact posterior. What is measured and how: bench/bench_summary.c.
#
# usage: sh bench/summary.sh [EPOCHS] [THREADS]   (defaults: 300 epochs, 2 threads;
#        about 20-30 minutes on 2 cores)
#        FAST=1 sh bench/summary.sh               (60 epochs, fewer observations and
#        test simulations: about 5 minutes)       or: make bench-summary [FAST=1]
# Results: bench/results/summary.txt (summary_fast.txt with FAST=1).
set -eu
cd "$(dirname "$0")/.."
EPOCHS=${1:-}
THREADS=${2:-2}
# under make (bench-summary) the program is already built
[ -n "${MAKELEVEL:-}" ] || make -s build/bench_summary
mkdir -p bench/results
OUT=bench/results/summary.txt
ARGS=""
if [ -n "${FAST:-}" ]; then
    ARGS="--fast"
    OUT=bench/results/summary_fast.txt
fi
[ -n "$EPOCHS" ] && ARGS="$ARGS --epochs $EPOCHS"
# shellcheck disable=SC2086
DSBI_NUM_THREADS=$THREADS nice -n 5 build/bench_summary $ARGS | tee "$OUT"
