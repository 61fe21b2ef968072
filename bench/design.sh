#!/bin/sh
# make bench-design: the design-space sweep of the tutorial review's case study 1
# (ALGORITHMS.md 3.3) on diffsbi: for each task, each model design is trained
# once at the budget, then sampled with each sampler; every cell is scored with
# C2ST against the sbibm reference posteriors, with network evaluations per draw
# and sampling time per observation (from the JSON of 'diffsbi bench accuracy').
#
# Knobs (environment):
#   TASKS     sbibm tasks ["two_moons gaussian_mixture slcp"]
#   OBS       observations scored per cell, e.g. 1-3 or 1,4 [1-10]
#   BUDGET    training simulations [10000]
#   SAMPLES   posterior samples per observation [10000]
#   EPOCHS    training epochs [the library default]
#   DIAGNOSE  N > 0: also run the calibration diagnostics of every cell on N
#             fresh simulations (100 draws each) and add the TARP area and the
#             number of well calibrated parameters to the table [0 = off]
#   DESIGNS   only these model designs, by name (see MODELS below) [all]
#   SAMPLER_NAMES  only these samplers, by name (see SAMPLERS, CM_SAMPLERS) [all]
#   THREADS   threads of each run [all cores]; sampling times are comparable only
#             between runs on an otherwise idle machine with the same THREADS
#   OUT       folder of the models, JSON files and table.txt [bench/results/design]
#   REF       sbibm reference folder [../shared/benchmarks/sbibm/]
#   DSBI_CLI  the diffsbi binary [build/diffsbi]
# Long (hours at the defaults): shorten it with e.g.
#   TASKS=two_moons OBS=1 BUDGET=1000 SAMPLES=500 EPOCHS=20 sh bench/design.sh
# A cell that fails (e.g. --max-nfe, a diverging sampler) is reported in the
# table with the last line of its error and the sweep goes on; the exit code is
# 1 if any cell failed.
set -eu
cd "$(dirname "$0")/.."
BIN=${DSBI_CLI:-build/diffsbi}
OUT=${OUT:-bench/results/design}
REF=${REF:-../shared/benchmarks/sbibm/}
TASKS=${TASKS:-"two_moons gaussian_mixture slcp"}
OBS=${OBS:-1-10}
BUDGET=${BUDGET:-10000}
SAMPLES=${SAMPLES:-10000}
DIAGNOSE=${DIAGNOSE:-0}
[ -x "$BIN" ] || { echo "design.sh: $BIN not found (make build/diffsbi first)" >&2; exit 1; }
[ -d "$REF" ] || { echo "design.sh: reference folder $REF is missing (set REF)" >&2; exit 1; }
case "$DIAGNOSE" in *[!0-9]*|'') echo "design.sh: DIAGNOSE must be a whole number" >&2; exit 2 ;; esac
command -v python3 > /dev/null || { echo "design.sh: python3 is needed to read the JSON" >&2; exit 1; }
mkdir -p "$OUT"
TRAIN_EXTRA=""
[ -n "${EPOCHS:-}" ] && TRAIN_EXTRA="--epochs $EPOCHS"
COMMON=""
[ -n "${THREADS:-}" ] && COMMON="--threads $THREADS"
# model designs: name | training options
MODELS="edm-F|--schedule edm --prediction F
cosine-noise|--schedule cosine --prediction noise
cosine-v|--schedule cosine --prediction v
cosine-F|--schedule cosine --prediction F
linear-noise|--schedule linear --prediction noise
edm-ve-F|--schedule edm-ve --prediction F
flow|--model flow
consistency|--model consistency"
# samplers: name | options (consistency models take their own steps)
SAMPLERS="ddim-100|--sampler ddim --steps 100
dpm2m-50|--sampler dpm2m --steps 50
heun-50|--sampler heun --steps 50
rk45|--sampler rk45
em-500|--sampler em --steps 500
sde-adaptive|--sampler sde-adaptive"
CM_SAMPLERS="cm-1|--steps 1
cm-2|--steps 2
cm-4|--steps 4"
FAILED="$OUT/.failed"
rm -f "$FAILED"
printf '%-18s %-14s %-14s %8s %8s %10s %9s %10s\n' task model sampler c2st nfe sample_s tarp calibrated \
    | tee "$OUT/table.txt"
fail() { # task model sampler errfile
    printf '%-18s %-14s %-14s failed: %s\n' "$1" "$2" "$3" "$(tail -1 "$4")" | tee -a "$OUT/table.txt"
    : > "$FAILED"
}
for task in $TASKS; do
    echo "$MODELS" | while IFS='|' read -r mname mopts; do
        case " ${DESIGNS:-$mname} " in *" $mname "*) ;; *) continue ;; esac
        model="$OUT/$task-$mname.dsbi"
        # one observation with few samples: the point is training and saving the model
        # shellcheck disable=SC2086
        if ! $BIN bench accuracy --task "$task" --budget "$BUDGET" --reference-dir "$REF" \
            --observations 1 --samples 1000 --json "$OUT/$task-$mname-train.json" \
            --save "$model" --quiet $COMMON $mopts $TRAIN_EXTRA > /dev/null 2>"$OUT/err.txt"; then
            fail "$task" "$mname" "(training)" "$OUT/err.txt"
            continue
        fi
        if [ "$mname" = consistency ]; then list=$CM_SAMPLERS; else list=$SAMPLERS; fi
        echo "$list" | while IFS='|' read -r sname sopts; do
            # flow matching has no SDE: its velocity field has no stochastic sampler
            case "$mname:$sname" in flow:em-500|flow:sde-adaptive) continue ;; esac
            case " ${SAMPLER_NAMES:-$sname} " in *" $sname "*) ;; *) continue ;; esac
            json="$OUT/$task-$mname-$sname.json"
            diag=""
            [ "$DIAGNOSE" -gt 0 ] && diag="--diagnose $OUT/$task-$mname-$sname-diagnose --diagnose-n $DIAGNOSE"
            # shellcheck disable=SC2086
            if $BIN bench accuracy --task "$task" --budget "$BUDGET" --reference-dir "$REF" \
                --load "$model" --observations "$OBS" --samples "$SAMPLES" --json "$json" \
                --quiet $COMMON $sopts $diag > /dev/null 2>"$OUT/err.txt"; then
                python3 - "$json" "$task" "$mname" "$sname" <<'PY' | tee -a "$OUT/table.txt"
import json, sys
d = json.load(open(sys.argv[1]))
m = d.get("mean", {})
c2st = m.get("c2st")
sec = d.get("sample_seconds_mean")
g = d.get("diagnose")
tarp = f"{g['tarp_area']:9.3f}" if g and g.get("tarp_area") is not None else f"{'-':>9}"
cal = f"{g['well_calibrated']}/{len(g['parameters'])}" if g else "-"
print(f"{sys.argv[2]:<18} {sys.argv[3]:<14} {sys.argv[4]:<14} "
      f"{c2st if c2st is not None else float('nan'):8.3f} {d.get('nfe', 0):8} "
      f"{sec if sec is not None else float('nan'):10.2f} {tarp} {cal:>10}")
PY
            else
                fail "$task" "$mname" "$sname" "$OUT/err.txt"
            fi
        done
    done
done
rm -f "$OUT/err.txt"
echo "table: $OUT/table.txt" >&2
if [ -e "$FAILED" ]; then
    rm -f "$FAILED"
    exit 1
fi
exit 0
