#!/usr/bin/env bash
# Team database benchmark, in a throwaway PostgreSQL cluster (scripts/pg-cluster.sh):
#   A  20 reviewers certifying ITEMS review items at once on a team database, a login each
#   B  one reviewer certifying as many items on a SQLite file (one writer)
#   C  steward team push of the evidence benchmark's inventory (100,000 identities,
#      1,000,000 audit entries) into an empty team database, verified at both ends
#   D  pg_dump --data-only | psql of the same rows into an empty team database: PostgreSQL's
#      own copy of the data, with no verification
# A and B time only the deciding (the seeding is not timed). Prints decisions/s of A and B
# and A/B, then C, D (best of RUNS interleaved rounds) and C/D.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${STEWARD_TEST_PG:-} ]]; then
  exec bash scripts/pg-cluster.sh run bash "$0" "$@"
fi
items=${ITEMS:-2000}
reviewers=${REVIEWERS:-20}
identities=${IDENTITIES:-100000}
entries=${ENTRIES:-1000000}
cargo build --release -q -p steward --bins --example team_decide --example audit_fill
bin=target/release/steward
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pg=$STEWARD_TEST_PG
sql() { psql "$pg/postgres" -X -q -v ON_ERROR_STOP=1 -c "$1"; }

# A and B.
sql "CREATE DATABASE decide"
read -r a_n a_s < <(target/release/examples/team_decide postgres "$pg/decide" "$items" "$reviewers")
read -r b_n b_s < <(target/release/examples/team_decide sqlite "$dir/decide.db" "$items")

# An empty team database to copy from: migrated, no key recorded yet.
sql "CREATE DATABASE empty"
STEWARD_TEAM_DIR="$dir/keys-empty" "$bin" --db "$pg/empty" whoami >/dev/null
psql "$pg/empty" -X -q -c "DELETE FROM key_check"

db="$dir/steward.db"
"$bin" --db "$db" demo --identities "$identities" >/dev/null
target/release/examples/audit_fill "$db" "$entries"

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
fresh() { sql "DROP DATABASE IF EXISTS $1" && sql "CREATE DATABASE $1 TEMPLATE empty"; }
prep_push() { fresh pushed; rm -rf "$dir/keys"; }
run_push() { STEWARD_TEAM_DIR="$dir/keys" "$bin" --db "$db" team push --to "$pg/pushed"; }
prep_dump() {
  fresh restored
  psql "$pg/restored" -X -q -c "DELETE FROM use_case_template; DELETE FROM framework_mapping; DELETE FROM review_policy"
}
run_dump() {
  pg_dump --data-only --disable-triggers --exclude-table=_sqlx_migrations "$pg/pushed" |
    psql "$pg/restored" -X -q -v ON_ERROR_STOP=1
}
runs=${RUNS:-3}
rounds "$runs" push dump
c=${best[push]} d=${best[dump]}
rows=$(psql "$pg/pushed" -X -A -t -c "SELECT (SELECT count(*) FROM identity) || ' identities, ' || (SELECT count(*) FROM audit_log) || ' audit entries'")

echo "team database benchmark (PostgreSQL $(psql "$pg/postgres" -X -A -t -c 'SHOW server_version'))"
awk -v n="$a_n" -v s="$a_s" -v r="$reviewers" 'BEGIN { printf "  A %2d reviewers on PostgreSQL   %6d decisions in %7.3f s   %7.1f decisions/s\n", r, n, s, n / s }'
awk -v n="$b_n" -v s="$b_s" 'BEGIN { printf "  B  1 writer on SQLite          %6d decisions in %7.3f s   %7.1f decisions/s\n", n, s, n / s }'
awk -v an="$a_n" -v as="$a_s" -v bn="$b_n" -v bs="$b_s" 'BEGIN { printf "  A/B %.2f (decisions per second)\n", (an / as) / (bn / bs) }'
echo "  pushed: $rows (best of $runs interleaved rounds)"
printf "  C steward team push             %8.3f s\n" "$c"
printf "  D pg_dump --data-only | psql    %8.3f s\n" "$d"
awk -v c="$c" -v d="$d" 'BEGIN { printf "  C/D %.2f\n", c / d }'
