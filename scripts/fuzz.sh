#!/usr/bin/env bash
# Fuzzes every parser of untrusted input with AFL++ (afl.rs, stable toolchain): each target of
# fuzz/ for SECONDS (default 600), from its committed corpus in fuzz/corpus/<target>. Exits 1
# naming the inputs when any target crashed or hung. New inputs that reach new code are left
# in fuzz/out/<target>/default/queue: copy the interesting ones into the corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
version=0.18.2
if ! cargo afl --version 2>/dev/null | grep -q "$version"; then
  cargo install cargo-afl --locked --version "$version"
fi
# AFL++ itself, built once for this toolchain.
if ! built=$(cargo afl config --build 2>&1) && ! grep -q "already built" <<<"$built"; then
  echo "$built" >&2
  exit 1
fi
cd fuzz
cargo afl build --release --locked -q
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
failed=0
mkdir -p out
for target in auditevent tokens registrations evidence; do
  out="out/$target"
  rm -rf "$out"
  echo "fuzz: $target for ${seconds}s"
  # -t: a hang is an input that takes longer than 2 s; -c -: no CmpLog instance (one core
  # each, and its second fork server timed out here).
  cargo afl fuzz -V "$seconds" -t 2000 -c - -i "corpus/$target" -o "$out" \
    "target/release/$target" >"$out.log" 2>&1 || { tail -20 "$out.log"; failed=1; continue; }
  found=$(find "$out/default/crashes" "$out/default/hangs" -type f ! -name README.txt 2>/dev/null | sort)
  if [[ -n "$found" ]]; then
    echo "fuzz: $target crashed or hung on:" >&2
    echo "$found" >&2
    failed=1
  fi
  grep -E "execs_done|corpus_count" "$out/default/fuzzer_stats" | tr '\n' ' '
  echo
done
exit "$failed"
