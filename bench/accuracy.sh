#!/bin/sh
# sbibm accuracy benchmark: all ten tasks at one simulation budget.
# Usage: sh bench/accuracy.sh [BUDGET]   (or BUDGET=1000|10000|100000 in the env)
# Options through the environment: EPOCHS (default: the library's), TASKS (list),
# OUT (folder for the JSON and text tables) [out/bench-accuracy-BUDGET],
# DSBI_CLI (binary) [build/diffsbi], REF (sbibm folder) [../shared/benchmarks/sbibm/].
# Runs from the repo root. Long: trains one model per task and scores
# 10 observations x 10,000 samples each (C2ST, MMD, sliced Wasserstein).
set -eu
BUDGET=${1:-${BUDGET:-10000}}
case "$BUDGET" in 1000|10000|100000) ;; *) echo "accuracy.sh: budget must be 1000, 10000 or 100000 (sbibm's published budgets)" >&2; exit 2 ;; esac
CLI=${DSBI_CLI:-build/diffsbi}
REF=${REF:-../shared/benchmarks/sbibm/}
OUT=${OUT:-out/bench-accuracy-$BUDGET}
TASKS=${TASKS:-"gaussian_linear gaussian_linear_uniform slcp slcp_distractors bernoulli_glm bernoulli_glm_raw gaussian_mixture two_moons sir lotka_volterra"}
[ -x "$CLI" ] || { echo "accuracy.sh: $CLI not found (make build/diffsbi first)" >&2; exit 1; }
[ -d "$REF" ] || { echo "accuracy.sh: reference folder $REF is missing" >&2; exit 1; }
mkdir -p "$OUT"
EXTRA=""
[ -n "${EPOCHS:-}" ] && EXTRA="--epochs $EPOCHS"
SUMMARY="$OUT/summary.txt"
printf '%-24s %8s %8s %10s  %s\n' task C2ST NPE best-of-8 seconds > "$SUMMARY"
status=0
for t in $TASKS; do
    echo "== $t, $BUDGET simulations" >&2
    start=$(date +%s)
    # shellcheck disable=SC2086
    if "$CLI" bench accuracy --task "$t" --budget "$BUDGET" --reference-dir "$REF" \
        --json "$OUT/$t.json" --save "$OUT/$t.dsbi" $EXTRA --quiet > "$OUT/$t.txt"; then
        cat "$OUT/$t.txt"
        mean=$(awk '$1 == "mean" {print $2, $3, $4}' "$OUT/$t.txt")
        printf '%-24s %8s %8s %10s  %s\n' "$t" $mean $(( $(date +%s) - start )) >> "$SUMMARY"
    else
        echo "accuracy.sh: $t failed" >&2
        status=1
    fi
done
echo
cat "$SUMMARY"
exit $status
