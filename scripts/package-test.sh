#!/usr/bin/env bash
# Installs the .deb `make package` built, as a user would (apt-get install ./steward_*.deb), and
# tries it: the installed `steward` (version, init, demo, export, verify, the PDF read back),
# the menu entry, the installed window under Xvfb (first start, demo, About), and removal, which
# must leave the user's data where it was. Needs root or sudo (it installs a system package).
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
deb=$(ls dist/steward_*_amd64.deb | tail -1)
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
fail() { echo "package test: $*" >&2; exit 1; }

$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$deb" >/dev/null
dpkg-query -W -f='${Status}\n' steward | grep -q "install ok installed" || fail "not installed"
# What it declares it needs: the runtime libraries, never a -dev package.
depends=$(dpkg-query -W -f='${Depends}' steward)
[[ "$depends" != *-dev* ]] || fail "depends on a -dev package: $depends"
[[ "$depends" == *libwebkit2gtk-4.1-0* ]] || fail "the webview is not declared: $depends"

# The CLI on the PATH: its version names the commit this checkout is at.
expected="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) (commit $(git rev-parse --short=12 HEAD))"
[[ "$(command -v steward)" == /usr/bin/steward ]] || fail "steward is not on the PATH"
[[ "$(steward --version)" == "steward $expected" ]] || fail "steward --version: $(steward --version), expected $expected"

# The installed CLI at work, in a home of its own.
(
  export HOME="$home" XDG_DATA_HOME="$home/.local/share"
  cd "$home"
  steward --db work.db init >/dev/null
  steward --db work.db demo --identities 60 >/dev/null
  steward --db work.db evidence export --out pkg >/dev/null
  steward --db work.db evidence verify pkg >/dev/null
  text=$(pdftotext -layout pkg/data/report.pdf -)
  grep -q "Steward evidence report" <<<"$text" || fail "report.pdf does not read back"
  grep -q "60 identities" <<<"$text" || fail "report.pdf lacks the inventory's figures"
  grep -q "^  *data/report.pdf$\|  data/report.pdf$" pkg/manifest-sha256.txt || fail "the manifest does not cover report.pdf"
)

# The menu entry and its icon.
desktop=$(dpkg -L steward | grep '\.desktop$' | head -1)
[[ -n "$desktop" ]] || fail "no menu entry"
app=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$desktop")
app=$(command -v "$app")
[[ -x "$app" ]] || fail "the menu entry's program $app is not installed"
grep -q '^Icon=' "$desktop" || fail "the menu entry has no icon"
dpkg -L steward | grep -q '/icons/hicolor/.*/apps/' || fail "no icon installed"

# The installed window, from an empty data directory.
(cd ui && xvfb-run -a --server-args="-screen 0 1400x900x24" node e2e/installed.mjs "$app" "$expected" "$home")
[[ -f "$home/.local/share/steward/steward-demo.db" ]] || fail "the window kept no data"

# Removing the package leaves the user's data.
$sudo env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q steward >/dev/null
[[ ! -e /usr/bin/steward ]] || fail "steward is still installed"
[[ -f "$home/.local/share/steward/steward-demo.db" && -f "$home/work.db" ]] || fail "removal took the user's data"
echo "package test: $deb installs, runs, and leaves the data on removal"
