#!/usr/bin/env bash
# The signing key in a real OS keychain: a private D-Bus session with gnome-keyring's Secret
# Service (in a throwaway home), and the built CLI. Checks that the key is created in the
# keychain and nowhere on disk, that it persists, that packages it signs verify with openssl,
# that rotation replaces it there while old packages still verify, that a key already in a
# file stays in the file, and that without a Secret Service no key is made until the user
# chooses the file.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${STEWARD_BIN:-target/debug/steward}
for tool in dbus-run-session gnome-keyring-daemon openssl jq; do
  command -v "$tool" >/dev/null || { echo "keychain test needs $tool (make deps-test)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=$(realpath "$bin")

inside() {
  set -euo pipefail
  # An unlocked login keyring: the password only guards this throwaway home.
  echo -n "keychain-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  export STEWARD_KEY_STORE=keychain
  fail() { echo "keychain test: $*" >&2; exit 1; }
  s() { "$bin" --db "$work/k.db" "$@"; }

  s init >/dev/null
  show=$(s --json evidence key show)
  [[ $(jq -r .storage <<<"$show") == keychain ]] || fail "the key is not in the keychain: $show"
  [[ $(jq -r .keychain_unavailable <<<"$show") == null ]] || fail "fallback reported: $show"
  [[ ! -e "$work/k.db.signing.key" ]] || fail "a key file was written beside the database"
  first=$(jq -r .fingerprint <<<"$show")
  [[ $(s --json evidence key show | jq -r .fingerprint) == "$first" ]] || fail "the key did not persist"

  s evidence export --out "$work/p1" >/dev/null
  (cd "$work/p1" && openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin \
    -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig >/dev/null) ||
    fail "openssl does not verify a package signed by the keychain key"
  s evidence verify "$work/p1" >/dev/null || fail "steward does not verify its package"

  rotated=$(s --json evidence key rotate)
  [[ $(jq -r .storage <<<"$rotated") == keychain ]] || fail "the new key left the keychain"
  [[ $(jq -r .fingerprint <<<"$rotated") != "$first" ]] || fail "rotation kept the old key"
  [[ $(jq '.known | length' <<<"$rotated") == 2 ]] || fail "the old public key is not listed"
  s evidence verify "$work/p1" >/dev/null || fail "an old package no longer verifies after rotation"

  # A held client credential goes where the signing key went: the keychain, no file, no
  # value in the database.
  s identity add --client-id kc-feed --name "Keychain feed" --kind backend_service \
    --environment staging >/dev/null
  held=$(printf 'kc-s3cret-value' | s --json credential set kc-feed --client-secret-stdin)
  [[ $(jq -r .store <<<"$held") == keychain ]] || fail "the client secret is not in the keychain: $held"
  [[ ! -e "$work/k.db.secrets" ]] || fail "a secrets directory was written beside the database"
  if grep -aq "kc-s3cret-value" "$work"/k.db*; then fail "the secret reached the database"; fi
  [[ $(s --json credential show kc-feed | jq -r '.[0].fingerprint') == $(jq -r .fingerprint <<<"$held") ]] ||
    fail "credential show does not give the held fingerprint"

  # A key already in a file stays there, keychain or not.
  "$bin" --db "$work/f.db" init >/dev/null
  STEWARD_KEY_STORE=file "$bin" --db "$work/f.db" evidence key show >/dev/null
  [[ -e "$work/f.db.signing.key" ]] || fail "no key file with STEWARD_KEY_STORE=file"
  [[ $("$bin" --db "$work/f.db" --json evidence key show | jq -r .storage) == file ]] ||
    fail "a key file was moved into the keychain"

  # A database named by --db keeps its key in a file unless the keychain is asked for.
  named=$(env -u STEWARD_KEY_STORE "$bin" --db "$work/d.db" --json evidence key show)
  [[ $(jq -r .storage <<<"$named") == file && $(jq -r .keychain_unavailable <<<"$named") == null ]] ||
    fail "a named database reached the keychain: $named"
  if STEWARD_KEY_STORE=vault "$bin" --db "$work/d.db" evidence key show 2>"$work/err"; then
    fail "STEWARD_KEY_STORE=vault was accepted"
  fi
  grep -q "STEWARD_KEY_STORE" "$work/err" || fail "the bad value is not named: $(cat "$work/err")"
}
export -f inside
export bin work
mkdir -p "$work/home/.cache" "$work/home/data"
HOME="$work/home" XDG_DATA_HOME="$work/home/data" dbus-run-session -- bash -c inside 2> >(grep -v "fd limit" >&2)

# No session bus: no key is made anywhere, the error says why and how to choose the file;
# chosen, the key is a file from then on.
if env -u DBUS_SESSION_BUS_ADDRESS -u DISPLAY STEWARD_KEY_STORE=keychain \
  "$bin" --db "$work/n.db" evidence export --out "$work/np" 2>"$work/err"; then
  echo "keychain test: an export without a keychain signed with a key made elsewhere" >&2; exit 1
fi
grep -q "keychain cannot keep" "$work/err" && grep -q "evidence key use-file" "$work/err" ||
  { echo "keychain test: the error does not say why or what to do: $(cat "$work/err")" >&2; exit 1; }
[[ ! -e "$work/n.db.signing.key" && ! -e "$work/np" ]] ||
  { echo "keychain test: a key file or a package was made without the user's word" >&2; exit 1; }
show=$(env -u DBUS_SESSION_BUS_ADDRESS -u DISPLAY STEWARD_KEY_STORE=keychain \
  "$bin" --db "$work/n.db" --json evidence key use-file)
[[ $(jq -r .storage <<<"$show") == file && -e "$work/n.db.signing.key" ]] ||
  { echo "keychain test: use-file did not make the key in a file: $show" >&2; exit 1; }
env -u DBUS_SESSION_BUS_ADDRESS -u DISPLAY STEWARD_KEY_STORE=keychain \
  "$bin" --db "$work/n.db" evidence export --out "$work/np" >/dev/null ||
  { echo "keychain test: the chosen file key does not sign" >&2; exit 1; }
echo "keychain test: key created, kept, used, rotated in the Secret Service; a client secret held there; no keychain: refused, then a file by choice"
