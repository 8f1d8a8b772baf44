#!/usr/bin/env bash
# Benchmarks platform-server against a bare-hyper baseline in one run: wrk on /health and an
# authenticated /api/me, each server pinned to core 0 and wrk to core 1, then prints requests/s,
# p50/p99, the ratio to the baseline, and idle/loaded RSS. Not part of CI.
#   bench/run.sh                 3 rounds of 10 s per route and server
#   DURATION=30s bench/run.sh    longer runs
#   ROUNDS=5 bench/run.sh        more rounds (the VM's noise: medians of interleaved rounds)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
TOKEN=bench-token-0123456789abcdefghijklmnop
BASE_PORT=7800
PLATFORM_PORT=7801
SERVER_CPU=0
LOAD_CPU=1

for tool in wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y wrk util-linux curl" >&2; exit 1; }
done

echo "building (release)..." >&2
cargo build --release -q --manifest-path bench/baseline/Cargo.toml --target-dir target/bench
cargo build --release -q

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

rss_kib() { awk -v f="$2" '$1 == f":" { print $2 }' "/proc/$1/status"; }

wait_up() {
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not come up" >&2
  return 1
}

# CPU ticks (user + system) the server has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

# wrk output -> "requests/s p50 p99 cpu-us-per-request"
measure() {
  local url=$1 before after
  before=$(cpu_ticks)
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -H "Authorization: Bearer $TOKEN" "$url" >"$work/wrk.txt"
  after=$(cpu_ticks)
  if grep -q "Non-2xx" "$work/wrk.txt"; then
    echo "non-2xx responses from $url:" >&2
    cat "$work/wrk.txt" >&2
    return 1
  fi
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ { n = $1 } /Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    END { printf "%s %s %s %.1f\n", rps, p50, p99, ticks / hz * 1e6 / n }' "$work/wrk.txt"
}

declare -A RESULT
run_server() {
  local name=$1 port=$2 round=$3; shift 3
  taskset -c "$SERVER_CPU" env "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  wait_up "$port"
  curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/me" >/dev/null
  sleep 0.5
  RESULT[$name.idle]=$(rss_kib "$pid" VmRSS)
  RESULT[$name.health.$round]=$(measure "http://127.0.0.1:$port/health")
  RESULT[$name.me.$round]=$(measure "http://127.0.0.1:$port/api/me")
  RESULT[$name.loaded]=$(rss_kib "$pid" VmHWM)
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

# Rounds alternate the servers, so slow spells of the machine hit both alike.
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round of $ROUNDS..." >&2
  run_server baseline "$BASE_PORT" "$round" SERVER_AUTH_TOKEN="$TOKEN" \
    target/bench/release/bench-baseline --listen "127.0.0.1:$BASE_PORT"
  rm -rf "$work/data" "$work/deployment.yaml"
  run_server platform "$PLATFORM_PORT" "$round" -i PATH="$PATH" HOME="$work" DATA_DIR="$work/data" \
    DEPLOYMENT_CONFIG="$work/deployment.yaml" AUTH_PROVIDER=static SERVER_AUTH_TOKEN="$TOKEN" \
    RATE_LIMITS=off METRICS_LISTEN=off RUST_LOG=warn \
    target/release/platform-server serve --listen "127.0.0.1:$PLATFORM_PORT"
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# "rps p50 p99 cpu" of the round with the median requests/s, and the median per-round ratio.
summary() {
  local name=$1 route=$2
  for r in $(seq 1 "$ROUNDS"); do echo "${RESULT[$name.$route.$r]}"; done |
    sort -g | sed -n "$(((ROUNDS + 1) / 2))p"
}
ratio_of() {
  local route=$1
  for r in $(seq 1 "$ROUNDS"); do
    read -r a _ <<<"${RESULT[platform.$route.$r]}"
    read -r b _ <<<"${RESULT[baseline.$route.$r]}"
    awk -v a="$a" -v b="$b" 'BEGIN { print a / b }'
  done | median
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ok=1
printf "\nmedian of %s rounds (ratio: median of the per-round ratios)\n" "$ROUNDS"
printf "%-9s %-8s %12s %9s %9s %10s %7s\n" server route "requests/s" p50 p99 "CPU us/req" ratio
for route in health me; do
  read -r base_rps base_p50 base_p99 base_cpu <<<"$(summary baseline "$route")"
  read -r rps p50 p99 cpu <<<"$(summary platform "$route")"
  ratio=$(ratio_of "$route" | awk '{ printf "%.2f", $1 }')
  path=$([ "$route" = me ] && echo /api/me || echo /health)
  printf "%-9s %-8s %12s %9s %9s %10s %7s\n" baseline "$path" "$base_rps" "$base_p50" "$base_p99" "$base_cpu" "1.00"
  printf "%-9s %-8s %12s %9s %9s %10s %7s\n" platform "$path" "$rps" "$p50" "$p99" "$cpu" "${ratio}x"
  awk -v r="$ratio" 'BEGIN { exit !(r >= 0.85) }' || ok=0
done
printf "\nRSS (MiB)  baseline idle %s, peak %s; platform-server idle %s, peak %s\n" \
  "$(mib "${RESULT[baseline.idle]}")" "$(mib "${RESULT[baseline.loaded]}")" \
  "$(mib "${RESULT[platform.idle]}")" "$(mib "${RESULT[platform.loaded]}")"
[ "${RESULT[platform.idle]}" -lt $((20 * 1024)) ] || ok=0
if [ "$ok" = 1 ]; then
  echo "targets met: >= 0.85x the baseline on both routes, idle RSS < 20 MiB"
else
  echo "targets NOT met: >= 0.85x the baseline on both routes, idle RSS < 20 MiB"
fi
