#!/usr/bin/env bash
# Scale benchmark of the inventory: seeds 1,000 identities (the baseline) and 100,000 into
# fresh databases with the release CLI, then times a filtered list and a full audit-chain
# verification and an evaluation of every finding rule on each. Prints seconds and the per-identity cost against the baseline
# (1.00 = perfectly linear).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p steward
bin=target/release/steward
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

declare -A seed list verify findings
for n in 1000 100000; do
  db="$dir/bench-$n.db"
  seed[$n]=$(secs "$bin" --db "$db" demo --identities "$n")
  list[$n]=$(secs "$bin" --db "$db" --json identity list --environment production --search sched --sort next_review_due --limit 100)
  verify[$n]=$(secs "$bin" --db "$db" audit verify)
  findings[$n]=$(secs "$bin" --db "$db" --json findings)
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (a / 100000) / (b / 1000) }'; }
printf '%-34s %10s %10s %22s\n' "operation" "1,000" "100,000" "per-identity vs 1,000"
printf '%-34s %9ss %9ss %22s\n' "demo seed" "${seed[1000]}" "${seed[100000]}" "$(ratio "${seed[100000]}" "${seed[1000]}")"
printf '%-34s %9ss %9ss %22s\n' "list (filter+search+sort, 100)" "${list[1000]}" "${list[100000]}" "$(ratio "${list[100000]}" "${list[1000]}")"
printf '%-34s %9ss %9ss %22s\n' "findings (all rules, all identities)" "${findings[1000]}" "${findings[100000]}" "$(ratio "${findings[100000]}" "${findings[1000]}")"
printf '%-34s %9ss %9ss %22s\n' "audit verify (full chain)" "${verify[1000]}" "${verify[100000]}" "$(ratio "${verify[100000]}" "${verify[1000]}")"
