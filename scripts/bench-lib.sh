# Shared by the benchmark scripts: `secs CMD...` runs a command and prints its wall time in
# seconds.
secs() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 1e9 }'
}

# `rounds N NAME...`: N rounds, each timing `run_NAME` once for every NAME in turn (after
# `prep_NAME`, untimed, where there is one, and a `sync`: what an earlier run wrote is not
# still being flushed meanwhile), and sets `best[NAME]` to the fastest time of each.
# The machine's noise only ever adds time, so the minimum is the steadiest figure; and since
# every round runs them all, a slow spell of the machine falls on all of them rather than on
# one alone, and their ratios stay fair.
declare -A best
rounds() {
  local n=$1 name t i
  shift
  for ((i = 0; i < n; i++)); do
    for name in "$@"; do
      if declare -F "prep_$name" >/dev/null; then "prep_$name"; fi
      sync
      t=$(secs "run_$name")
      if [[ -z ${best[$name]:-} ]] || awk -v a="$t" -v b="${best[$name]}" 'BEGIN { exit !(a < b) }'; then
        best[$name]=$t
      fi
    done
  done
}
