#!/usr/bin/env bash
# Authorization-server benchmark, against oidc-provider on loopback (tests/authz):
#   A  steward sync --dry-run of CLIENTS clients registered through Steward: an RFC 7592 GET
#      of each with its registration access token (bounded concurrency), compared with the
#      inventory
#   B  a sequential curl loop over the same RFC 7592 URLs and tokens (one curl a client)
#   C  one curl process reading the same URLs one after the other on one connection
#      (curl -K; reported, no target)
#   D  steward drill of one client: token, introspect, revoke, introspect (the whole command)
#   E  the same four requests made with curl
# Each figure is the best of RUNS interleaved rounds. Prints A/B (target <= 0.25) and D/E
# (target <= 1.5).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in curl sqlite3 jq node; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 1; }
done
clients=${CLIENTS:-5000}
runs=${RUNS:-3}
cargo build --release -q -p steward --bins --example connect_fill
bin=target/release/steward
dir=$(mktemp -d)
node tests/authz/server.mjs --port 0 >"$dir/server.out" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do [[ -s $dir/server.out ]] && break; sleep 0.1; done
issuer=$(awk '{print $2}' "$dir/server.out")
db="$dir/steward.db"
export STEWARD_DB=$db
target/release/examples/connect_fill "$db" "$issuer" "$clients" >"$dir/fill.out"
read -r n reg_s <"$dir/fill.out"

# The same URLs and tokens, for curl.
sqlite3 "$db" "SELECT id, registration_client_uri FROM identity WHERE registration_client_uri IS NOT NULL ORDER BY id" \
  | while IFS='|' read -r id uri; do
      printf '%s %s\n' "$uri" "$(cat "$db.secrets/identity-$id.registration_token")"
    done >"$dir/pairs"
awk '{ printf "%surl = \"%s\"\nheader = \"Authorization: Bearer %s\"\noutput = \"/dev/null\"\n", (NR > 1 ? "next\n" : ""), $1, $2 }' \
  "$dir/pairs" >"$dir/curl.cfg"

# A drill's client and its four requests, for curl.
id=1
client_id=$(sqlite3 "$db" "SELECT client_id FROM identity WHERE id = $id")
secret=$(cat "$db.secrets/identity-$id.client_secret")

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

run_sync() { "$bin" --json sync staging --dry-run; }
run_loop() {
  local uri token
  while read -r uri token; do
    curl -sf -o /dev/null -H "Authorization: Bearer $token" "$uri"
  done <"$dir/pairs"
}
run_onecurl() { curl -sf -K "$dir/curl.cfg"; }
run_drill() { "$bin" drill "$id" --bound 5; }
run_curls() {
  local token
  token=$(curl -sf -u "$client_id:$secret" -d grant_type=client_credentials \
    -d "scope=system/Patient.rs system/Observation.rs" "$issuer/token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -sf -u "$client_id:$secret" -d "token=$token" "$issuer/token/introspection" | grep -q '"active":true'
  curl -sf -u "$client_id:$secret" -d "token=$token" "$issuer/token/revocation"
  curl -sf -u "$client_id:$secret" -d "token=$token" "$issuer/token/introspection" | grep -q '"active":false'
}
read_back=$("$bin" --json sync staging --dry-run | jq .clients_read)
[[ $read_back -eq $n ]] || { echo "sync read $read_back clients, not $n" >&2; exit 1; }
rounds "$runs" sync loop onecurl drill curls

echo "authorization-server benchmark ($n clients registered through steward in ${reg_s} s)"
printf "  A steward sync --dry-run           %8.3f s\n" "${best[sync]}"
printf "  B curl loop (one curl a client)    %8.3f s\n" "${best[loop]}"
printf "  C one curl -K, one connection      %8.3f s\n" "${best[onecurl]}"
printf "  D steward drill                    %8.3f s\n" "${best[drill]}"
printf "  E the four requests with curl      %8.3f s\n" "${best[curls]}"
awk -v a="${best[sync]}" -v b="${best[loop]}" -v c="${best[onecurl]}" -v d="${best[drill]}" -v e="${best[curls]}" \
  'BEGIN { printf "  A/B %.3f (target <= 0.25)   A/C %.2f   D/E %.2f (target <= 1.5)\n", a/b, a/c, d/e }'
