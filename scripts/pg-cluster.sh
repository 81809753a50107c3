#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: Debian's server binaries, a temp data dir, a
# free loopback port, the C locale (Steward's team databases sort like SQLite), and a
# superuser with a password. PostgreSQL refuses to run as root, so as root the cluster runs
# as Debian's unprivileged `postgres` account.
#
#   scripts/pg-cluster.sh run CMD...   starts a cluster, runs CMD with STEWARD_TEST_PG set to
#                                      its superuser URL (no database), stops the cluster
set -euo pipefail

bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[[ -x "$bindir/initdb" ]] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

dir=$(mktemp -d /tmp/steward-pg.XXXXXX)
as=()
if [[ $(id -u) -eq 0 ]]; then
  chown postgres: "$dir"
  as=(runuser -u postgres --)
fi
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

printf '%s\n' "$password" > "$dir/pw"
chmod 600 "$dir/pw"
[[ ${#as[@]} -eq 0 ]] || chown postgres: "$dir/pw"
"${as[@]}" "$bindir/initdb" -D "$dir/data" -U steward_test --pwfile="$dir/pw" \
  --auth-local=scram-sha-256 --auth-host=scram-sha-256 --locale=C -E UTF8 >"$dir/initdb.log"
"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null

case "${1:-}" in
  run)
    shift
    STEWARD_TEST_PG="postgres://steward_test:$password@127.0.0.1:$port" "$@"
    ;;
  *)
    echo "usage: $0 run CMD..." >&2
    exit 2
    ;;
esac
