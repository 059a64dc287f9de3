#!/usr/bin/env bash
# make demo: loom's main job on the embedded default — generated data, local
# files, local mode (every subtask a goroutine of one process), no Hadoop.
set -euo pipefail
cd "$(dirname "$0")/.."
LOOM=${LOOM:-bin/loom}
work=${LOOM_DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/loom-demo.XXXXXX")}
rm -rf "$work/wordcount" "$work/totals" "$work/checkpoints"
mkdir -p "$work"

echo "== generating a text of 300000 lines in $work/input.txt"
awk 'BEGIN { srand(42);
  split("the quick brown fox jumps over the lazy dog while loom counts every Word in Batches of records", w, " ");
  for (i = 0; i < 300000; i++) { line = ""; k = int(rand() * 10) + 1;
    for (j = 0; j < k; j++) { x = w[int(rand() * 18) + 1]; line = line (j ? " " : "") x (rand() < 0.1 ? "," : "") }
    print line } }' > "$work/input.txt"

echo "== loom run wordcount (parallelism 2)"
"$LOOM" run wordcount --input "$work/input.txt" --output "$work/wordcount" --parallelism 2
echo "-- top words:"
cat "$work"/wordcount/part-* | sort -t$'\t' -k2,2nr | sed -n 1,5p

echo "== loom run totals: keyed state in the LSM backend, checkpoints every 200ms"
"$LOOM" run totals --events 1000000 --accounts 10000 --output "$work/totals" --parallelism 2 \
  --state-backend lsm --checkpoint-dir "$work/checkpoints" --checkpoint-interval 200ms
echo "-- checkpoints kept: $(ls "$work/checkpoints/totals" | tr '\n' ' ')"

if "$LOOM" jobs | grep -q '^windowed-counts'; then
  echo "== loom run windowed-counts: event-time tumbling windows over generated clicks"
  "$LOOM" run windowed-counts --events 500000 --output "$work/windows" --parallelism 2
  echo "-- first windows:"
  cat "$work"/windows/counts/part-* | sort | sed -n 1,3p
  echo "-- late records (side output): $(cat "$work"/windows/late/part-* | wc -l)"
fi

words=$(wc -l < <(cat "$work"/wordcount/part-*))
accounts=$(wc -l < <(cat "$work"/totals/part-*))
echo "demo done: wordcount found $words distinct words, totals summed $accounts accounts; outputs in $work"
