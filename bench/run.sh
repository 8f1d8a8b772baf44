#!/usr/bin/env bash
# Benchmarks platform-server (default configuration) against two references in one run: a
# bare-hyper baseline and an axum 0.8 + tower-http server. Each server is pinned to core 0 and
# the load generator to core 1. Per round every server is started fresh and measured with wrk on
# /health, /api/me and /api/tokens (20 rows from SQLite) at 64 connections, /health at 1,024
# connections, and /health over HTTP/2 (h2c, h2load); rounds interleave the servers (in a
# rotating order) and the table shows medians. Not part of CI.
#   bench/run.sh                 3 rounds of 6 s per measurement
#   DURATION=10 bench/run.sh     longer measurements (seconds)
#   ROUNDS=5 bench/run.sh        more rounds
#   ONLY="platform baseline" bench/run.sh   a subset of the servers
#   ONLY="baseline axum platform platform_off" bench/run.sh   also the same binary with the
#                                rate limiter and metrics off, to see what they cost
#   BEFORE=/path/to/older/platform-server ONLY="baseline before platform" bench/run.sh
#                                an older build in the same configuration, for before/after
# Before each server's turn the script waits (up to QUIET_WAIT seconds) until no cargo or
# rustc process runs, and the table counts the turns that had to start anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-6}
DURATION=${DURATION%s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
MANY=${MANY:-1024}
ONLY=${ONLY:-baseline axum platform}
QUIET_WAIT=${QUIET_WAIT:-180}
TOKEN=bench-token-0123456789abcdefghijklmnop
SERVER_CPU=0
LOAD_CPU=1
# The default configuration, with quotas far above what one client sends here (the limiter
# still runs on every request), metrics on (a loopback listener), and warn-level logs.
QUOTAS="auth=1000000000/second,write=1000000000/second,read=1000000000/second"

for tool in wrk h2load taskset curl; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool: apt-get install -y wrk nghttp2-client util-linux curl" >&2
    exit 1
  }
done

echo "building (release)..." >&2
cargo build --release -q --manifest-path bench/baseline/Cargo.toml --target-dir target/bench
cargo build --release -q --manifest-path bench/axum_ref/Cargo.toml --target-dir target/bench
cargo build --release -q --bin platform-server

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$work"
}
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

# CPU ticks (user + system, all threads) the server has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

# wrk -> "requests/s p50 p99 cpu-us-per-request"
wrk_measure() {
  local url=$1 conns=$2 before after
  before=$(cpu_ticks)
  taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" --latency \
    -H "Authorization: Bearer $TOKEN" "$url" >"$work/wrk.txt"
  after=$(cpu_ticks)
  if grep -qE "Non-2xx|Socket errors" "$work/wrk.txt"; then
    echo "errors from $url ($conns connections):" >&2
    cat "$work/wrk.txt" >&2
    grep -q "Non-2xx" "$work/wrk.txt" && return 1
  fi
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /requests in/ { n = $1 } /Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    END { printf "%d %.2f %.2f %.1f\n", rps, p50, p99, ticks / hz * 1e6 / n }' "$work/wrk.txt"
}

# h2load (h2c with prior knowledge, one stream per connection) -> "requests/s mean-ms cpu-us"
h2_measure() {
  local url=$1 before after
  before=$(cpu_ticks)
  taskset -c "$LOAD_CPU" h2load -t1 -c"$CONNECTIONS" -m1 -D"$DURATION" "$url" >"$work/h2.txt"
  after=$(cpu_ticks)
  grep -q "0 failed, 0 errored" "$work/h2.txt" || { cat "$work/h2.txt" >&2; return 1; }
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^finished in/ { rps = $4 } /^requests:/ { n = $8 } /^time for request:/ { mean = ms($6) }
    END { printf "%d %.2f %.1f\n", rps, mean, ticks / hz * 1e6 / n }' "$work/h2.txt"
}

# Waits until no compiler runs (other builds on this machine halve the numbers); counts the
# turns that started while one still did.
noisy=0
wait_quiet() {
  local waited=0
  while pgrep -x 'rustc|cargo' >/dev/null; do
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      noisy=$((noisy + 1))
      echo "  (a compiler is still running after ${QUIET_WAIT}s; measuring anyway)" >&2
      return 0
    fi
    sleep 5
    waited=$((waited + 5))
  done
}

declare -A R
run_server() {
  local name=$1 port=$2 round=$3
  shift 3
  wait_quiet
  taskset -c "$SERVER_CPU" env "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  wait_up "$port"
  curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/tokens" >/dev/null
  sleep 0.5
  local base="http://127.0.0.1:$port"
  R[$name.idle.$round]=$(rss_kib "$pid" VmRSS)
  R[$name.health.$round]=$(wrk_measure "$base/health" "$CONNECTIONS")
  R[$name.me.$round]=$(wrk_measure "$base/api/me" "$CONNECTIONS")
  R[$name.tokens.$round]=$(wrk_measure "$base/api/tokens" "$CONNECTIONS")
  R[$name.loaded.$round]=$(rss_kib "$pid" VmHWM)
  R[$name.many.$round]=$(wrk_measure "$base/health" "$MANY")
  R[$name.h2.$round]=$(h2_measure "$base/health")
  R[$name.peak.$round]=$(rss_kib "$pid" VmHWM)
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}

start_baseline() {
  run_server baseline 7800 "$1" SERVER_AUTH_TOKEN="$TOKEN" DB_PATH="$work/data/platform.db" \
    target/bench/release/bench-baseline --listen 127.0.0.1:7800
}
start_axum() {
  run_server axum 7802 "$1" SERVER_AUTH_TOKEN="$TOKEN" DB_PATH="$work/data/platform.db" \
    RUST_LOG=warn target/bench/release/bench-axum-ref --listen 127.0.0.1:7802
}
platform_env=(-i PATH="$PATH" HOME="$work" DATA_DIR="$work/data"
  DEPLOYMENT_CONFIG="$work/deployment.yaml" AUTH_PROVIDER=static SERVER_AUTH_TOKEN="$TOKEN"
  RATE_LIMITS="$QUOTAS" METRICS_LISTEN=127.0.0.1:7809 RUST_LOG=warn)
start_platform() {
  run_server platform 7801 "$1" "${platform_env[@]}" \
    target/release/platform-server serve --listen 127.0.0.1:7801
}
start_before() {
  run_server before 7804 "$1" "${platform_env[@]}" "$BEFORE" serve --listen 127.0.0.1:7804
}
start_platform_off() {
  run_server platform_off 7803 "$1" "${platform_env[@]}" RATE_LIMITS=off METRICS_LISTEN=off \
    target/release/platform-server serve --listen 127.0.0.1:7803
}

# The database all three read: platform-server's, with 20 API tokens of user "1".
env "${platform_env[@]}" target/release/platform-server serve --listen 127.0.0.1:7801 \
  >"$work/setup.log" 2>&1 &
pid=$!
wait_up 7801
for i in $(seq 1 20); do
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    -d "{\"name\": \"bench token $i\"}" http://127.0.0.1:7801/api/tokens
done
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""

read -ra servers <<<"$ONLY"
for round in $(seq 1 "$ROUNDS"); do
  n=${#servers[@]}
  for i in $(seq 0 $((n - 1))); do
    name=${servers[$(((i + round - 1) % n))]}
    echo "round $round of $ROUNDS: $name..." >&2
    "start_$name" "$round"
  done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# Field $2 (1-based) of measurement $1 of server $3: median over the rounds.
med() { for r in $(seq 1 "$ROUNDS"); do echo "${R[$3.$1.$r]}" | awk -v f="$2" '{ print $f }'; done | median; }
# Median over the rounds of the per-round ratio of requests/s of $1 to $2, each "server.measurement".
pair_ratio() {
  for r in $(seq 1 "$ROUNDS"); do
    read -r a _ <<<"${R[$1.$r]}"
    read -r b _ <<<"${R[$2.$r]}"
    awk -v a="$a" -v b="$b" 'BEGIN { print a / b }'
  done | median
}
# Server $2 against server $3 on measurement $1.
ratio() { pair_ratio "$2.$1" "$3.$1"; }
# Server $3 on measurement $1 against itself on measurement $2.
self_ratio() { pair_ratio "$3.$1" "$3.$2"; }
has() { [[ " $ONLY " == *" $1 "* ]]; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
fmt2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }

printf "\nmedians of %s interleaved rounds, %s s each; %s connections unless noted\n" \
  "$ROUNDS" "$DURATION" "$CONNECTIONS"
printf "turns that started while a compiler ran: %s of %s\n" "$noisy" "$((ROUNDS * ${#servers[@]}))"
printf "%-12s %-14s %10s %8s %8s %8s %8s %10s\n" \
  server route "req/s" "vs bare" "vs axum" "p50 ms" "p99 ms" "CPU us/req"
for m in health me tokens many; do
  case $m in
    health) path=/health ;; me) path=/api/me ;; tokens) path=/api/tokens ;; many) path="/health c$MANY" ;;
  esac
  for s in "${servers[@]}"; do
    vb=-; va=-
    has baseline && vb="$(fmt2 "$(ratio "$m" "$s" baseline)")x"
    has axum && va="$(fmt2 "$(ratio "$m" "$s" axum)")x"
    printf "%-12s %-14s %10.0f %8s %8s %8.2f %8.2f %10.1f\n" "$s" "$path" \
      "$(med "$m" 1 "$s")" "$vb" "$va" "$(med "$m" 2 "$s")" "$(med "$m" 3 "$s")" "$(med "$m" 4 "$s")"
  done
done
for s in "${servers[@]}"; do
  vb=-; va=-
  has baseline && vb="$(fmt2 "$(ratio h2 "$s" baseline)")x"
  has axum && va="$(fmt2 "$(ratio h2 "$s" axum)")x"
  printf "%-12s %-14s %10.0f %8s %8s %8s %8s %10.1f   (h2load mean %.2f ms)\n" "$s" "/health h2c" \
    "$(med h2 1 "$s")" "$vb" "$va" - - "$(med h2 3 "$s")" "$(med h2 2 "$s")"
done

printf "\n%-12s %10s %16s %14s %22s\n" server "idle MiB" "loaded MiB (c$CONNECTIONS)" "growth MiB" "peak MiB (c$MANY, h2)"
for s in "${servers[@]}"; do
  idle=$(med idle 1 "$s"); loaded=$(med loaded 1 "$s"); peak=$(med peak 1 "$s")
  printf "%-12s %10s %16s %14s %22s\n" "$s" "$(mib "$idle")" "$(mib "$loaded")" \
    "$(mib $((loaded - idle)))" "$(mib "$peak")"
done

# Every round, for judging the noise behind a median.
printf "\nper round (requests/s p50 p99 CPU-us; h2: requests/s mean CPU-us):\n"
for s in "${servers[@]}"; do
  for m in health me tokens many h2; do
    printf "%-12s %-7s" "$s" "$m"
    for r in $(seq 1 "$ROUNDS"); do printf " | %s" "${R[$s.$m.$r]}"; done
    echo
  done
done

# The goals of issue 16, when all three servers ran.
if has baseline && has axum && has platform; then
  ok=1
  check() { if awk "BEGIN { exit !($2) }"; then echo "  met:     $1"; else echo "  NOT met: $1"; ok=0; fi; }
  echo
  echo "goals (platform-server, default configuration):"
  for m in health me; do
    check "$m >= 0.80x bare ($(fmt2 "$(ratio $m platform baseline)")x)" "$(ratio $m platform baseline) >= 0.80"
    # The ceiling: bare hyper (the same serve loop with no stack at all) against axum.
    check "$m >= 1.25x axum ($(fmt2 "$(ratio $m platform axum)")x; bare hyper itself: $(fmt2 "$(ratio $m baseline axum)")x)" \
      "$(ratio $m platform axum) >= 1.25"
    check "$m CPU/request <= 1.25x bare ($(med $m 4 platform) vs $(med $m 4 baseline) us)" \
      "$(med $m 4 platform) <= 1.25 * $(med $m 4 baseline)"
    check "$m p99 <= 1.5x bare ($(med $m 3 platform) vs $(med $m 3 baseline) ms)" \
      "$(med $m 3 platform) <= 1.5 * $(med $m 3 baseline)"
  done
  check "/api/tokens >= 0.80x bare ($(fmt2 "$(ratio tokens platform baseline)")x)" \
    "$(ratio tokens platform baseline) >= 0.80"
  idle=$(med idle 1 platform); loaded=$(med loaded 1 platform)
  check "idle RSS < 20 MiB ($(mib "$idle"))" "$idle < 20 * 1024"
  check "RSS growth under load <= 10 MiB ($(mib $((loaded - idle))))" "$loaded - $idle <= 10 * 1024"
  # Per-round ratios (a round's two runs are minutes apart at most), with bare hyper's own.
  many=$(self_ratio many health platform)
  check "c$MANY within 15% of c$CONNECTIONS ($(fmt2 "$many")x; bare hyper itself: $(fmt2 "$(self_ratio many health baseline)")x)" \
    "$many >= 0.85"
  [ "$ok" = 1 ] && echo "all goals met" || echo "some goals NOT met"
fi
