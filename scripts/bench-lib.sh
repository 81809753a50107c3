# Shared by the benchmark scripts: `secs CMD...` runs a command and prints its wall time in
# seconds.
secs() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 1e9 }'
}

# `best N CMD...`: the fastest of N runs of a command, in seconds (the machine's noise only
# ever adds time, so the minimum is the steadiest figure).
best() {
  best_fresh "$1" "" "${@:2}"
}

# `best_fresh N DIR CMD...`: as `best`, with DIR removed (untimed) before each run.
best_fresh() {
  local n=$1 fresh=$2 t min=""
  shift 2
  for ((i = 0; i < n; i++)); do
    [[ -z $fresh ]] || rm -rf "$fresh"
    t=$(secs "$@")
    if [[ -z $min ]] || awk -v a="$t" -v b="$min" 'BEGIN { exit !(a < b) }'; then
      min=$t
    fi
  done
  echo "$min"
}
