#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind: the same binary and load
# give the same count whatever else the machine is doing, so a change of a few percent shows
# where wrk's run-to-run noise (10-20 % on a shared VM) hides it. Kernel time is not counted.
#   bench/instructions.sh                      platform-server and bare hyper on /health
#   ROUTE=/api/me bench/instructions.sh
#   BINS="target/release/platform-server /tmp/old-platform-server" bench/instructions.sh
# Each server runs under callgrind twice, answering N1 and then N2 keep-alive requests (h2load,
# 8 connections); the difference divided by N2 - N1 leaves start-up out. quanta's clock
# calibration, which runs for a time rather than a count, is subtracted. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUTE=${ROUTE:-/health}
N1=${N1:-4000}
N2=${N2:-12000}
PORT=${PORT:-7806}
TOKEN=bench-token-0123456789abcdefghijklmnop
QUOTAS="auth=1000000000/second,write=1000000000/second,read=1000000000/second"

for tool in valgrind callgrind_annotate callgrind_control h2load curl; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool: apt-get install -y valgrind nghttp2-client curl" >&2
    exit 1
  }
done

if [ -z "${BINS:-}" ]; then
  cargo build --release -q --manifest-path bench/baseline/Cargo.toml --target-dir target/bench
  cargo build --release -q --bin platform-server
  BINS="target/release/platform-server target/bench/release/bench-baseline"
fi

work=$(mktemp -d)
vg=""
cleanup() {
  [ -n "$vg" ] && kill -9 "$vg" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Instructions the server ran to start and answer $2 requests (calibration left out).
count() {
  local bin=$1 n=$2 out="$work/cg.$2"
  rm -rf "$work/data" "$out"*
  # The same environment as bench/run.sh's default configuration; the baseline ignores it.
  env -i PATH="$PATH" HOME="$work" DATA_DIR="$work/data" DEPLOYMENT_CONFIG="$work/deployment.yaml" \
    AUTH_PROVIDER=static SERVER_AUTH_TOKEN="$TOKEN" RATE_LIMITS="$QUOTAS" \
    METRICS_LISTEN=127.0.0.1:$((PORT + 1)) RUST_LOG=warn \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" serve --listen "127.0.0.1:$PORT" \
    >"$work/server.log" 2>&1 &
  vg=$!
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  h2load --h1 -n "$n" -c 8 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$ROUTE" \
    >"$work/h2load.txt" 2>&1
  grep -q "$n succeeded" "$work/h2load.txt" || {
    echo "requests failed against $bin:" >&2
    tail -5 "$work/h2load.txt" >&2
    exit 1
  }
  callgrind_control -d "$vg" >/dev/null 2>&1
  sleep 1
  kill -9 "$vg" 2>/dev/null
  wait "$vg" 2>/dev/null || true
  vg=""
  local total calibration
  total=$(cat "$out".* | awk '/^summary:/ { s += $2 } END { print s }')
  calibration=$(callgrind_annotate --inclusive=yes "$out".1 2>/dev/null |
    awk '/quanta::Calibration::calibrate/ { gsub(",", "", $1); print $1; exit }')
  echo $((total - ${calibration:-0}))
}

printf '%-45s %s\n' "server ($ROUTE)" "instructions/request"
for bin in $BINS; do
  a=$(count "$bin" "$N1")
  b=$(count "$bin" "$N2")
  printf '%-45s %d\n' "$bin" $(((b - a) / (N2 - N1)))
done
