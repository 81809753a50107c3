#!/usr/bin/env bash
# Drives the real desktop app through tauri-driver and WebKitWebDriver, under Xvfb when no
# display is available.
set -euo pipefail
cd "$(dirname "$0")/../ui"
if [[ -n "${DISPLAY:-}" && -z "${CI:-}" ]]; then
  node --test e2e/
else
  xvfb-run -a --server-args="-screen 0 1400x900x24" node --test e2e/
fi
