#!/usr/bin/env bash
# Run tests/live N times (default 5) while every core is kept busy by a background load, and
# print runs, failures and durations. The live tests must pass on a loaded machine: they wait
# on conditions, never on sleeps.
#
#   scripts/stress_tests.sh [N] [pytest args...]     e.g. scripts/stress_tests.sh 5 -x
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
shift || true
PY=${PY:-.venv/bin/python}
CORES=$(nproc)
LOG_DIR=${LOG_DIR:-out/stress}
mkdir -p "$LOG_DIR"

# one busy loop per core, at normal priority (the tests compete with them), stopped on exit
LOAD=()
for _ in $(seq "$CORES"); do
  "$PY" -c "while True: pass" &
  LOAD+=($!)
done
trap 'kill "${LOAD[@]}" 2>/dev/null' EXIT

echo "tests/live x$N with $CORES busy loops on $CORES cores (logs in $LOG_DIR)"
fails=0
for i in $(seq "$N"); do
  t0=$(date +%s)
  "$PY" -m pytest -q tests/live -p no:cacheprovider "$@" >"$LOG_DIR/run-$i.txt" 2>&1
  rc=$?
  t1=$(date +%s)
  summary=$(grep -E '^[0-9]+ (passed|failed)|[0-9]+ failed|[0-9]+ passed' "$LOG_DIR/run-$i.txt" | tail -1)
  if [ $rc -ne 0 ]; then
    fails=$((fails + 1))
    status=FAIL
  else
    status=ok
  fi
  printf 'run %d/%d: %-4s %4ds  %s\n' "$i" "$N" "$status" $((t1 - t0)) "$summary"
  grep -E '^(FAILED|ERROR) ' "$LOG_DIR/run-$i.txt" | sed 's/^/    /'
done
echo "runs: $N, failed runs: $fails"
[ $fails -eq 0 ]
