#!/usr/bin/env bash
# Window benchmark, on the optimized desktop build (the one `make run` opens), driven like the
# e2e suite (tauri-driver + WebKitWebDriver, under Xvfb when there is no display):
#   dashboard  page start to the dashboard's figures painted
#   inventory  a click on the Inventory tab to its first rows painted
#   keystroke  a key in the search box to its rows painted (median of 5 keys)
# each the median of RUNS (default 3) launches, on a 1,000-identity database (the baseline) and a LARGE one (default 100,000), both made
# by `steward demo`. Prints large/small for each (target: at most 2x) and the dashboard at
# LARGE (target: under one second).
set -euo pipefail
cd "$(dirname "$0")/.."
large=${LARGE:-100000}
(cd ui && npm run build >/dev/null)
cargo build --release -q -p steward -p steward-desktop
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
HOME=$dir target/release/steward --db "$dir/small.db" demo --identities 1000 >/dev/null
HOME=$dir target/release/steward --db "$dir/large.db" demo --identities "$large" >/dev/null
cd ui
if [[ -n "${DISPLAY:-}" ]]; then
  node e2e/window-bench.mjs "$dir/small.db" "$dir/large.db"
else
  xvfb-run -a --server-args="-screen 0 1400x900x24" node e2e/window-bench.mjs "$dir/small.db" "$dir/large.db"
fi
