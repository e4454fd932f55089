# Shell helpers shared by the benchmark scripts (sourced, not run).
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
best_of() {  # best_of N CMD... -> fastest wall time in seconds
  local n=$1 best=""; shift
  for _ in $(seq "$n"); do
    local t0 t1 dt; t0=$(now); "$@" >/dev/null 2>&1 || true; t1=$(now)
    dt=$(calc "$t1 - $t0")
    if [ -z "$best" ] || [ "$(calc "$dt < $best")" = 1 ]; then best=$dt; fi
  done
  echo "$best"
}
