#!/usr/bin/env bash
# A model's scorecard for the keep rule (kinema.eval.keep): the three WorldBench suites and the
# motion probe, written into OUT. Compare two with `kinema eval keep BASE_OUT NEW_OUT`.
#   bash scripts/scorecard.sh MODEL OUT [THREADS]      (~10 min on one thread)
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: bash scripts/scorecard.sh MODEL OUT [THREADS]" >&2
    exit 2
fi
model=$1 out=$2 threads=${3:-1}
if [ ! -f "$model/model.json" ]; then
    echo "scorecard: $model is not a model folder (no model.json)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
kinema=${KINEMA:-$here/.venv/bin/kinema}
python=${PYTHON:-$here/.venv/bin/python}
mkdir -p "$out"
# run LOG CMD...: CMD's output goes to LOG; when it fails, the end of LOG is shown and the card stops
run() {
    local log=$1
    shift
    if ! "$@" > "$log" 2>&1; then
        tail -5 "$log" >&2
        echo "scorecard: failed, see $log" >&2
        exit 1
    fi
}
for suite in "wb_48 48 0" "wb_48s1 48 1" "wb_24 24 0"; do
    set -- $suite
    run "$out/$1.log" "$kinema" eval worldbench --checkpoint "$model" --out "$out/$1" --prompts "$2" \
        --seed "$3" --threads "$threads" -q
    grep overall "$out/$1.log"
done
PYTHONPATH="$here/src" run "$out/motion.log" "$python" "$here/scripts/motion_probe.py" "$model" \
    --threads "$threads" --json "$out/motion.json"
tail -3 "$out/motion.log"
