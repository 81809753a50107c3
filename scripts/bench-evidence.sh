#!/usr/bin/env bash
# Evidence benchmark: 100,000 identities and 1,000,000 audit entries, then in one run:
#   A  steward evidence export                 B  sqlite3 CSV dump + bagit.py SHA-256 bag
#   C  openssl dgst -sha256 over the export    D  steward evidence verify
#   E  bagit.py --validate of the same package
# Each is the best of RUNS runs (default 3). Prints A/B, A/C and D/E (targets: A/B <= 1,
# D/E <= 1, A/C <= 4).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 command (apt-get install sqlite3)" >&2; exit 1; }
python3 -c 'import bagit' 2>/dev/null || pip install --quiet bagit
cargo build --release -q -p steward --bins --example audit_fill
bin=target/release/steward
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
db="$dir/steward.db"
"$bin" --db "$db" demo --identities 100000 >/dev/null
target/release/examples/audit_fill "$db" 1000000

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

pipeline() {
  mkdir -p "$dir/b"
  for t in identity person identity_scope credential audit_log; do
    sqlite3 -header -csv "$db" "SELECT * FROM $t" >"$dir/b/$t.csv"
  done
  python3 -m bagit --sha256 --processes 2 "$dir/b" 2>/dev/null
}

runs=${RUNS:-3}
a=$(best_fresh "$runs" "$dir/a" "$bin" --db "$db" evidence export --out "$dir/a")
b=$(best_fresh "$runs" "$dir/b" pipeline)
c=$(best "$runs" bash -c "openssl dgst -sha256 '$dir'/a/data/* >/dev/null")
d=$(best "$runs" "$bin" --db "$db" evidence verify "$dir/a")
# D and E check the same bag: the package Steward exported (a valid BagIt bag).
e=$(best "$runs" python3 -m bagit --validate --processes 2 --quiet "$dir/a")
du -sh "$dir/a/data" "$dir/b/data" | sed 's/^/size: /'
echo "best of $runs runs"
printf 'A export %ss  B sqlite3+bagit %ss  C openssl floor %ss  D verify %ss  E bagit validate %ss\n' "$a" "$b" "$c" "$d" "$e"
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v e="$e" \
  'BEGIN { printf "A/B %.2f (target <= 1)   A/C %.2f (target <= 4)   D/E %.2f (target <= 1)\n", a/b, a/c, d/e }'
