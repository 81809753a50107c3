# Shared by the benchmark scripts: `secs CMD...` runs a command and prints its wall time in
# seconds.
secs() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 1e9 }'
}
