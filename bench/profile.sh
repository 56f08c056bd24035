#!/usr/bin/env bash
# Where one core's time goes (issue 33): the server pinned to CPU 1, wrk to CPU 0.
#
#   bash bench/profile.sh [seconds=10] [connections=64]
#   BEFORE=target/bench-bins/NAME/switchyard bash bench/profile.sh   # pass 1 also measures
#                                          # another build, alternating, for before/after
#   WHY=1 ...                              # also list the frame that decided each stage
#
# Pass 1, no profiler attached: server CPU time per answered request (utime + stime from
# /proc/PID/stat, divided by wrk's request count) for a bare axum handler, Switchyard's
# verified durable ingest (no routes), and end to end (verified → SQLite → order-to-erp →
# HTTP sink, the sink on CPU 0; CPU per *delivered* event, after the backlog drains).
# Pass 2: `perf record` (DWARF call graphs) on ingest and on end to end, then
# bench/stages.py buckets every sample by the stage its stack is in. Prints Markdown tables.
# Needs a release build (cargo build --release --bin switchyard --example bare_axum), wrk, perf.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-64}
BIN=${SWITCHYARD_BIN:-target/release/switchyard}
BARE=target/release/examples/bare_axum
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
export SWITCHYARD_CACHE_DIR="$WORK/cache"
PORT=18080 SINK_PORT=19000 SECRET=bench-client-secret
URL="http://127.0.0.1:$PORT/hooks/bigcommerce"
BODY='{"scope":"store/order/created","store_id":"1025646","data":{"type":"order","id":250},"hash":"dd70c0976e06b67aaf671e73f49dcb79230ebf9d","created_at":1561479335,"producer":"stores/abc123"}'

python3 - "$SECRET" "$BODY" > "$WORK/signed.lua" <<'PY'
import base64, hashlib, hmac, sys, time
secret, body = sys.argv[1].encode(), sys.argv[2]
msg_id, ts = "msg_bench", str(int(time.time()))
sig = base64.b64encode(hmac.new(secret, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()).decode()
print('wrk.method = "POST"'); print(f"wrk.body = [[{body}]]")
print('wrk.headers["Content-Type"] = "application/json"')
for k, v in (("webhook-id", msg_id), ("webhook-timestamp", ts), ("webhook-signature", f"v1,{sig}")):
    print(f'wrk.headers["{k}"] = "{v}"')
PY

config() {  # $1 = name, $2 = routes
  cat > "$WORK/$1.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
admin = ""
[storage]
url = "sqlite://$WORK/$1.db"
[sources.bigcommerce]
provider = "bigcommerce"
secrets = ["$SECRET"]
dedup_window_secs = 0
[plugins.order-to-erp]
path = "$PWD/target/plugins/wasm32-wasip2/release/order_to_erp.wasm"
config = { currency = "USD" }
[destinations.erp]
url = "http://127.0.0.1:$SINK_PORT/erp"
$2
TOML
}
config ingest ''
config e2e '[[routes]]
match = "store/order/*"
plugin = "order-to-erp"
to = ["erp"]'

wait_port() { for _ in $(seq 1 500); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.02; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
requests() { awk '/requests in/ {print $1}' "$WORK/wrk.out"; }
pending() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"select count(*) from deliveries where state='pending'\").fetchone()[0])" "$1"; }
drain() {  # $1 = database: until no delivery is pending (bounded)
  for _ in $(seq 1 600); do [ "$(pending "$1" 2>/dev/null || echo 1)" = 0 ] && return 0; sleep 0.1; done
}

taskset -c 0 "$BARE" "127.0.0.1:$SINK_PORT" & wait_port $SINK_PORT
HZ=$(getconf CLK_TCK)

echo "| server (CPU 1; wrk on CPU 0; $CONNS connections, ${SECS} s) | requests | server CPU µs per request | ratio to bare axum |"
echo "| --- | ---: | ---: | ---: |"
bare_us=
runs=(bare "ingest $BIN" "e2e $BIN")
[ -n "${BEFORE:-}" ] && runs=(bare "ingest $BIN" "ingest $BEFORE" "e2e $BIN" "e2e $BEFORE" "ingest $BEFORE" "ingest $BIN")
for run in "${runs[@]}"; do
  read -r what bin <<<"$run"
  rm -f "$WORK"/*.db*
  case $what in
    bare) taskset -c 1 "$BARE" "127.0.0.1:$PORT" & ;;
    *) taskset -c 1 "$bin" serve --no-watch --config "$WORK/$what.toml" 2>"$WORK/$what.log" & ;;
  esac
  pid=$!; wait_port $PORT
  before=$(cpu_ticks $pid)
  taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$WORK/signed.lua" "$URL" > "$WORK/wrk.out"
  [ "$what" = e2e ] && drain "$WORK/e2e.db"
  after=$(cpu_ticks $pid)
  n=$(requests)
  grep -q "Non-2xx" "$WORK/wrk.out" && { echo "$what: $(grep Non-2xx "$WORK/wrk.out")" >&2; }
  us=$(python3 -c "print(round(($after - $before) / $HZ * 1e6 / $n, 1))")
  [ -z "$bare_us" ] && bare_us=$us
  echo "| $what${bin:+ ($bin)} | $n | $us | $(python3 -c "print(round($us / $bare_us, 2))") |"
  kill $pid; wait $pid 2>/dev/null || true
done

for what in ingest e2e; do
  rm -f "$WORK"/*.db*
  taskset -c 1 "$BIN" serve --no-watch --config "$WORK/$what.toml" 2>"$WORK/$what.log" &
  pid=$!; wait_port $PORT
  perf record -q -F 499 --call-graph dwarf,16384 -p $pid -o "$WORK/$what.perf" -- sleep "$SECS" 2>/dev/null &
  rec=$!
  taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$WORK/signed.lua" "$URL" > "$WORK/wrk.out"
  wait $rec || true
  echo; echo "#### $what: share of the server's CPU samples by stage"; echo
  perf script --no-inline -i "$WORK/$what.perf" 2>/dev/null | python3 bench/stages.py ${WHY:+--why}
  kill $pid; wait $pid 2>/dev/null || true
done
