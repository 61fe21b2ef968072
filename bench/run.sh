#!/bin/sh
# make bench: speed of diffsbi on this machine, one machine-readable line per
# case, then the PyTorch reference of ../shared/anchors run in the same session
# (when Debian's python3-torch is installed) and the ratios between the two.
# Measure with the machine otherwise idle: ratios are only meaningful within
# one run. Results also go to bench/results/.
set -eu
cd "$(dirname "$0")/.."
B=build/bench_speed
OUT=bench/results
mkdir -p "$OUT"
ANCHOR=${DSBI_ANCHOR_DIR:-../shared/anchors}
NPROC=$(nproc)
run() { # each case in a fresh process so that peak RSS is per case
    "$@" | tee -a "$OUT/diffsbi.txt"
}
: > "$OUT/diffsbi.txt"
echo "# diffsbi speed ($(date -u +%Y-%m-%dT%H:%M:%SZ), $NPROC cores)"
for T in 1 "$NPROC"; do
    DSBI_NUM_THREADS=$T run $B sgemm 256 256 256
    DSBI_NUM_THREADS=$T run $B sgemm 200 100 100
    DSBI_NUM_THREADS=$T run $B gemmstep 256 4 256
    DSBI_NUM_THREADS=$T run $B gemmstep 100 5 200
    DSBI_NUM_THREADS=$T run $B train 256 4 256
    DSBI_NUM_THREADS=$T run $B train 100 5 200
    DSBI_NUM_THREADS=$T run $B sample 256 4
    DSBI_NUM_THREADS=$T run $B sample 100 5
done

PY=/usr/bin/python3
if [ -x "$PY" ] && $PY -c "import torch" 2>/dev/null && [ -f "$ANCHOR/torch_ref.py" ]; then
    echo "# PyTorch reference (configs 1 and default), same session"
    for cfg in "256 4 256 4x256" "100 5 200 5x100"; do
        set -- $cfg
        $PY "$ANCHOR/torch_ref.py" --thread-configs 1,default --tasks two_moons --methods score \
            --hidden "$1" --layers "$2" --batch "$3" --no-accuracy --repeats 1 \
            --out "$OUT/torch-$4.json" > "$OUT/torch-$4.log" 2>&1 || echo "torch reference $4 failed (see $OUT/torch-$4.log)"
    done
    $PY bench/ratios.py "$OUT"
else
    echo "# PyTorch reference skipped: install python3-torch (apt-get install python3-torch) to compare"
fi
