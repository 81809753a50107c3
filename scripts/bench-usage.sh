#!/usr/bin/env bash
# Usage import benchmark: 1,000,000 BALP-shaped AuditEvents (~1 KB each, 400 clients, 13
# resource types) as NDJSON, and the same calls as a flat CSV; then in one run:
#   A  steward import audit of the NDJSON (to usage aggregates, trace ready)
#   B  sqlite3 importing the flat CSV and running the equivalent GROUP BY
#   C  cat of the NDJSON to /dev/null (reading the bytes: the floor)
# Prints A/B, A/C and Steward's peak RSS (targets: A/B <= 0.5, A/C <= 8, RSS <= 150 MB).
# CLIENTS (default 400) sets how many clients call: at 9000, 1,000,000 events make over
# 600,000 distinct daily aggregates (the same targets hold).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 command (apt-get install sqlite3)" >&2; exit 1; }
events=${EVENTS:-1000000}
cargo build --release -q -p steward --bins --example usage_gen
bin=target/release/steward
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
USAGE_CLIENTS=${CLIENTS:-400} target/release/examples/usage_gen "$events" "$dir/audit.ndjson" "$dir/calls.csv"
cat "$dir/audit.ndjson" "$dir/calls.csv" >/dev/null # both files start warm in the page cache

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

run_baseline() {
  sqlite3 "$dir/b.db" <<SQL
.mode csv
.import $dir/calls.csv calls
CREATE TABLE usage_daily AS
  SELECT client_id, day, context, resource_type, interaction, outcome,
         count(*) AS calls, min(recorded) AS first_seen, max(recorded) AS last_seen
  FROM calls GROUP BY client_id, day, context, resource_type, interaction, outcome;
SQL
}
prep_baseline() { rm -f "$dir/b.db"; }

# Each run imports into a fresh copy of an empty database; the last run's peak RSS is kept.
"$bin" --db "$dir/empty.db" init >/dev/null
prep_import() {
  rm -f "$dir"/steward.db*
  cp "$dir/empty.db" "$dir/steward.db"
  cp -p "$dir/empty.db.key" "$dir/steward.db.key" # its fingerprint key goes with it, 0600
}
run_import() {
  /usr/bin/time -f "%M" -o "$dir/rss" "$bin" --db "$dir/steward.db" import audit "$dir/audit.ndjson"
}
run_cat() { cat "$dir/audit.ndjson"; }

runs=${RUNS:-3}
rounds "$runs" import baseline cat
a=${best[import]} b=${best[baseline]} c=${best[cat]}
rss_kb=$(cat "$dir/rss")
size=$(stat -c %s "$dir/audit.ndjson")
rows=$(sqlite3 "$dir/steward.db" "SELECT count(*) || ' aggregates, ' || sum(calls) || ' calls' FROM usage_daily")
check=$(sqlite3 "$dir/b.db" "SELECT count(*) || ' aggregates, ' || sum(calls) || ' calls' FROM usage_daily")
echo "usage import benchmark: $events AuditEvents from ${CLIENTS:-400} clients, $((size / 1048576)) MiB NDJSON (best of $runs interleaved rounds)"
echo "  steward: $rows; sqlite3 baseline: $check"
printf "  A steward import audit         %8.3f s   peak RSS %d MB\n" "$a" $((rss_kb / 1024))
printf "  B sqlite3 .import + GROUP BY   %8.3f s\n" "$b"
printf "  C cat > /dev/null              %8.3f s\n" "$c"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "  A/B %.2f (target <= 0.5)   A/C %.1f (target <= 8)\n", a / b, a / c }'
