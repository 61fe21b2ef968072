#!/bin/sh
# Summary networks against hand-made statistics (issue 7). Sets: normal_gamma
# (deepset, set_transformer, stats), gk (g-and-k; octiles), normal_wishart
# (4-D; sample mean and covariance Cholesky). Sequences: ar1 (GRU, LSTM,
# stats), stoch_vol (LSTM; ln y^2 moments and autocorrelations), lv_raw and
# sir_raw (sbibm's Lotka-Volterra and SIR from the whole noisy trajectory, GRU,
# vs the built-in sbibm task fed its 10 sub-sampled times). Per problem:
# seconds per training epoch, the calibration verdicts (SBC, coverage),
# contraction and TARP area on a prior-predictive test set, and C2ST against
# the exact posterior where there is one (normal_gamma, ar1, normal_wishart),
# beside the exact posterior's own rows. What is measured and how:
# bench/bench_summary.c; the new simulators: src/summary/problems.c.
#
# usage: sh bench/summary.sh [EPOCHS] [THREADS]   (defaults: 300 epochs, 150 for
#        stoch_vol, 2 threads; about 1.5-2 hours on 2 cores)
#        FAST=1 sh bench/summary.sh               (60 epochs (normal_wishart 120,
#        stoch_vol 40), shorter series, fewer      or: make bench-summary [FAST=1]
#        observations and test simulations: about 15 minutes)
#        PROBLEMS=gk,lv_raw sh bench/summary.sh   (a subset, into *_subset.txt)
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
if [ -n "${PROBLEMS:-}" ]; then
    ARGS="$ARGS --problem $PROBLEMS"
    OUT=${OUT%.txt}_subset.txt
fi
# shellcheck disable=SC2086
DSBI_NUM_THREADS=$THREADS nice -n 5 build/bench_summary $ARGS | tee "$OUT"
