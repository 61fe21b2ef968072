#!/bin/sh
# make bench-design: the design-space sweep of the tutorial review's case study 1
# (ALGORITHMS.md 3.3) on diffsbi: for each task, each model design is trained
# once at the budget, then sampled with each sampler; every cell is scored with
# C2ST against the sbibm reference posteriors, with network evaluations per draw
# and sampling time. Long: set TASKS, OBS and BUDGET to shorten it, e.g.
#   TASKS=two_moons OBS=1-3 sh bench/design.sh
set -eu
cd "$(dirname "$0")/.."
BIN=build/diffsbi
OUT=bench/results/design
mkdir -p "$OUT"
TASKS=${TASKS:-"two_moons gaussian_mixture slcp"}
OBS=${OBS:-1-10}
BUDGET=${BUDGET:-10000}
SAMPLES=${SAMPLES:-10000}
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
printf '%-18s %-14s %-14s %8s %8s %10s\n' task model sampler c2st nfe sample_s | tee "$OUT/table.txt"
for task in $TASKS; do
    echo "$MODELS" | while IFS='|' read -r mname mopts; do
        model="$OUT/$task-$mname.dsbi"
        # shellcheck disable=SC2086
        $BIN bench accuracy --task "$task" --budget "$BUDGET" --observations 1 --samples 1000 \
            --save "$model" --quiet $mopts > /dev/null
        if [ "$mname" = consistency ]; then list=$CM_SAMPLERS; else list=$SAMPLERS; fi
        echo "$list" | while IFS='|' read -r sname sopts; do
            case "$mname:$sname" in flow:em-500|flow:sde-adaptive) continue ;; esac
            json="$OUT/$task-$mname-$sname.json"
            # shellcheck disable=SC2086
            if $BIN bench accuracy --task "$task" --load "$model" --observations "$OBS" \
                --samples "$SAMPLES" --json "$json" --quiet $sopts > /dev/null 2>"$OUT/err.txt"; then
                python3 - "$json" "$task" "$mname" "$sname" <<'PY' | tee -a "$OUT/table.txt"
import json, sys
d = json.load(open(sys.argv[1]))
m = d.get("mean", {})
print(f"{sys.argv[2]:<18} {sys.argv[3]:<14} {sys.argv[4]:<14} {m.get('c2st', float('nan')):8.3f} "
      f"{d.get('nfe', 0):8} {d.get('sample_seconds_mean', float('nan')):10.2f}")
PY
            else
                printf '%-18s %-14s %-14s failed: %s\n' "$task" "$mname" "$sname" "$(tail -1 "$OUT/err.txt")" | tee -a "$OUT/table.txt"
            fi
        done
    done
done
