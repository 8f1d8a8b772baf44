#!/usr/bin/env bash
# Benchmarks platform-server against a bare-hyper baseline in one run: wrk on /health and an
# authenticated /api/me, each server pinned to core 0 and wrk to core 1, then prints requests/s,
# p50/p99, the ratio to the baseline, and idle/loaded RSS. Not part of CI.
#   bench/run.sh                 10 s per route
#   DURATION=30s bench/run.sh    longer runs
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
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

# wrk output -> "requests/s p50 p99"
measure() {
  local url=$1
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -H "Authorization: Bearer $TOKEN" "$url" >"$work/wrk.txt"
  if grep -q "Non-2xx" "$work/wrk.txt"; then
    echo "non-2xx responses from $url:" >&2
    cat "$work/wrk.txt" >&2
    return 1
  fi
  awk '/Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
       END { printf "%s %s %s\n", rps, p50, p99 }' "$work/wrk.txt"
}

declare -A RESULT
run_server() {
  local name=$1 port=$2; shift 2
  taskset -c "$SERVER_CPU" env "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  wait_up "$port"
  curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/me" >/dev/null
  sleep 0.5
  RESULT[$name.idle]=$(rss_kib "$pid" VmRSS)
  RESULT[$name.health]=$(measure "http://127.0.0.1:$port/health")
  RESULT[$name.me]=$(measure "http://127.0.0.1:$port/api/me")
  RESULT[$name.loaded]=$(rss_kib "$pid" VmHWM)
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

run_server baseline "$BASE_PORT" SERVER_AUTH_TOKEN="$TOKEN" \
  target/bench/release/bench-baseline --listen "127.0.0.1:$BASE_PORT"
run_server platform "$PLATFORM_PORT" -i PATH="$PATH" HOME="$work" DATA_DIR="$work/data" \
  DEPLOYMENT_CONFIG="$work/deployment.yaml" AUTH_PROVIDER=static SERVER_AUTH_TOKEN="$TOKEN" \
  RATE_LIMITS=off METRICS_LISTEN=off RUST_LOG=warn \
  target/release/platform-server serve --listen "127.0.0.1:$PLATFORM_PORT"

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ok=1
printf "\n%-9s %-8s %12s %9s %9s %7s\n" server route "requests/s" p50 p99 ratio
for route in health me; do
  read -r base_rps base_p50 base_p99 <<<"${RESULT[baseline.$route]}"
  read -r rps p50 p99 <<<"${RESULT[platform.$route]}"
  ratio=$(awk -v a="$rps" -v b="$base_rps" 'BEGIN { printf "%.2f", a / b }')
  path=$([ "$route" = me ] && echo /api/me || echo /health)
  printf "%-9s %-8s %12s %9s %9s %7s\n" baseline "$path" "$base_rps" "$base_p50" "$base_p99" "1.00"
  printf "%-9s %-8s %12s %9s %9s %7s\n" platform "$path" "$rps" "$p50" "$p99" "${ratio}x"
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
