#!/usr/bin/env bash
# Evidence benchmark: 100,000 identities and 1,000,000 audit entries, then in one run:
#   A  steward evidence export                 B  sqlite3 CSV dump + bagit.py SHA-256 bag
#   C  openssl dgst -sha256 over the export    D  steward evidence verify
#   E  bagit.py --validate of the same package
# Each is the best of RUNS interleaved rounds (default 3). Prints A/B, A/C and D/E
# (targets: A/B <= 1, D/E <= 1, A/C <= 4).
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

prep_export() { rm -rf "$dir/a"; }
run_export() { "$bin" --db "$db" evidence export --out "$dir/a"; }
prep_pipeline() { rm -rf "$dir/b"; }
run_pipeline() {
  mkdir -p "$dir/b"
  for t in identity person identity_scope credential audit_log; do
    sqlite3 -header -csv "$db" "SELECT * FROM $t" >"$dir/b/$t.csv"
  done
  python3 -m bagit --sha256 --processes 2 "$dir/b" 2>/dev/null
}
run_openssl() { openssl dgst -sha256 "$dir"/a/data/*; }
run_verify() { "$bin" --db "$db" evidence verify "$dir/a"; }
# D and E check the same bag: the package Steward exported (a valid BagIt bag).
run_validate() { python3 -m bagit --validate --processes 2 --quiet "$dir/a"; }

runs=${RUNS:-3}
rounds "$runs" export pipeline openssl verify validate
a=${best[export]} b=${best[pipeline]} c=${best[openssl]} d=${best[verify]} e=${best[validate]}
du -sh "$dir/a/data" "$dir/b/data" | sed 's/^/size: /'
echo "best of $runs interleaved rounds"
printf 'A export %ss  B sqlite3+bagit %ss  C openssl floor %ss  D verify %ss  E bagit validate %ss\n' "$a" "$b" "$c" "$d" "$e"
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v e="$e" \
  'BEGIN { printf "A/B %.2f (target <= 1)   A/C %.2f (target <= 4)   D/E %.2f (target <= 1)\n", a/b, a/c, d/e }'
