#!/usr/bin/env bash
# Load benchmark: Switchyard's durable ingest, verified ingest and end-to-end path against a
# bare axum handler, measured in the same run on the same core budget; then latency at a fixed
# rate (half the end-to-end throughput just measured) with an open-loop generator
# (host/examples/paced_load.rs), for Switchyard end-to-end and for bare axum.
#
#   bash bench/load.sh [seconds=20] [connections=64]
#
# The server under test is pinned to CPU 1, wrk (and the delivery sink) to CPU 0, so every
# figure is "what one core of server does". Results are printed as a Markdown table ready for
# BENCHMARKS.md. Needs wrk (installed from Debian if missing) and python3 (stdlib only).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
CONNS=${2:-64}
command -v wrk >/dev/null || { sudo -n true 2>/dev/null && SUDO=sudo || SUDO=; $SUDO apt-get install -y wrk >/dev/null; }

cargo build --release --bin switchyard --example bare_axum --example paced_load 2>&1 | tail -1
BIN=target/release/switchyard
BARE=target/release/examples/bare_axum
PACED=target/release/examples/paced_load
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export SWITCHYARD_CACHE_DIR="$WORK/cache"
SERVER_PORT=18080
SINK_PORT=19000
SECRET=bench-client-secret

body() {  # a BigCommerce order event, as the docs show it
  printf '{"scope":"store/order/created","store_id":"1025646","data":{"type":"order","id":250},"hash":"dd70c0976e06b67aaf671e73f49dcb79230ebf9d","created_at":1561479335,"producer":"stores/abc123"}'
}

lua() {  # $1 = file, $2.. = extra "name: value" headers
  local file=$1; shift
  {
    echo 'wrk.method = "POST"'
    printf 'wrk.body = [[%s]]\n' "$(body)"
    echo 'wrk.headers["Content-Type"] = "application/json"'
    for h in "$@"; do printf 'wrk.headers["%s"] = "%s"\n' "${h%%: *}" "${h#*: }"; done
  } > "$file"
}

signed_headers() {  # Standard Webhooks headers keyed with the raw client secret (BigCommerce)
  python3 - "$SECRET" "$(body)" <<'PY'
import base64, hashlib, hmac, sys, time
secret, body = sys.argv[1].encode(), sys.argv[2]
msg_id, ts = "msg_bench", str(int(time.time()))
sig = base64.b64encode(hmac.new(secret, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()).decode()
print(f"webhook-id: {msg_id}"); print(f"webhook-timestamp: {ts}"); print(f"webhook-signature: v1,{sig}")
PY
}

config() {  # $1 = name, $2 = source table body, $3 = routes
  cat > "$WORK/$1.toml" <<TOML
[server]
listen = "127.0.0.1:$SERVER_PORT"
admin = ""
[storage]
url = "sqlite://$WORK/$1.db"
[sources.bigcommerce]
$2
dedup_window_secs = 0
[plugins.order-to-erp]
path = "$PWD/target/plugins/wasm32-wasip2/release/order_to_erp.wasm"
config = { currency = "USD" }
[destinations.erp]
url = "http://127.0.0.1:$SINK_PORT/erp"
$3
TOML
}

wait_port() { for _ in $(seq 1 500); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.02; done; echo "port $1 never opened" >&2; return 1; }

run_wrk() {  # $1 = lua file → prints "rps p50 p99"
  taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$1" "http://127.0.0.1:$SERVER_PORT/hooks/bigcommerce" > "$WORK/wrk.out"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p50=$(awk '$1=="50%" {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$WORK/wrk.out"); non2xx=${non2xx:-0}
  echo "$rps $p50 $p99 $non2xx"
}

rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

lua "$WORK/plain.lua"
mapfile -t SIGNED < <(signed_headers)
lua "$WORK/signed.lua" "${SIGNED[@]}"

taskset -c 0 "$BARE" "127.0.0.1:$SINK_PORT" & SINK=$!
wait_port $SINK_PORT

declare -A RESULT RSS
measure() {  # $1 = label, $2 = lua, $3.. = command to start the server
  local label=$1 luaf=$2; shift 2
  taskset -c 1 "$@" 2>"$WORK/$label.log" & local pid=$!
  wait_port $SERVER_PORT
  RESULT[$label]=$(run_wrk "$luaf")
  RSS[$label]=$(rss_kib $pid)
  kill -TERM $pid; wait $pid 2>/dev/null || true
}

measure bare "$WORK/plain.lua" "$BARE" "127.0.0.1:$SERVER_PORT"

config ingest 'provider = "bigcommerce"' ''
measure ingest "$WORK/plain.lua" "$BIN" serve --no-watch --config "$WORK/ingest.toml"

config verified "provider = \"bigcommerce\"
secrets = [\"$SECRET\"]" ''
measure verified "$WORK/signed.lua" "$BIN" serve --no-watch --config "$WORK/verified.toml"

config e2e 'provider = "bigcommerce"' '[[routes]]
match = "store/order/*"
plugin = "order-to-erp"
to = ["erp"]'
before=$(curl -s "127.0.0.1:$SINK_PORT/count")
start=$(date +%s.%N)
taskset -c 1 "$BIN" serve --no-watch --config "$WORK/e2e.toml" 2>"$WORK/e2e.log" & E2E=$!
wait_port $SERVER_PORT
RESULT[e2e_ingest]=$(run_wrk "$WORK/plain.lua")
# Wait until every accepted event has been delivered (the store drains after the load stops).
sqlite_pending() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"select (select count(*) from events where state='pending')+(select count(*) from deliveries where state='pending')\").fetchone()[0])" "$WORK/e2e.db"; }
for _ in $(seq 1 600); do [ "$(sqlite_pending)" = 0 ] && break; sleep 0.5; done
end=$(date +%s.%N)
after=$(curl -s "127.0.0.1:$SINK_PORT/count")
RSS[e2e]=$(rss_kib $E2E)
kill -TERM $E2E; wait $E2E 2>/dev/null || true
delivered=$((after - before))
e2e_rate=$(python3 -c "print(round($delivered / ($end - $start - 0.0)))")

# Latency at half the end-to-end rate: an open-loop load (each request has a slot in a fixed
# schedule, so a slow answer cannot slow the load down), on a fresh store.
HALF=$(( e2e_rate / 2 ))
body > "$WORK/body.json"
paced() {  # $1 = label → prints "achieved p50 p99 p99.9 non2xx"
  taskset -c 0 "$PACED" "http://127.0.0.1:$SERVER_PORT/hooks/bigcommerce" "$HALF" "$SECS" \
    --body "$WORK/body.json" --header 'content-type: application/json' > "$WORK/$1.paced"
  awk '/^achieved_rate/ {a=$2} /^p50/ {p50=$2} /^p99 / {p99=$2} /^p99.9/ {p999=$2} /^non_2xx/ {bad=$2}
       END {print a, p50, p99, p999, bad}' "$WORK/$1.paced"
}
rm -f "$WORK"/e2e.db*
before=$(curl -s "127.0.0.1:$SINK_PORT/count")
taskset -c 1 "$BIN" serve --no-watch --config "$WORK/e2e.toml" 2>"$WORK/e2e-paced.log" & E2E=$!
wait_port $SERVER_PORT
PACED_E2E=$(paced e2e)
load_end=$(date +%s.%N)
for _ in $(seq 1 600); do [ "$(sqlite_pending)" = 0 ] && break; sleep 0.1; done
drain_s=$(python3 -c "print(round($(date +%s.%N) - $load_end, 1))")
paced_delivered=$(( $(curl -s "127.0.0.1:$SINK_PORT/count") - before ))
kill -TERM $E2E; wait $E2E 2>/dev/null || true
taskset -c 1 "$BARE" "127.0.0.1:$SERVER_PORT" & B=$!
wait_port $SERVER_PORT
PACED_BARE=$(paced bare)
kill -TERM $B; wait $B 2>/dev/null || true

read -r bare_rps bare_p50 bare_p99 _ <<<"${RESULT[bare]}"
ratio() { python3 -c "print(f'{$1 / $bare_rps:.2f}')"; }
echo
echo "| run ($CONNS connections, ${SECS}s, server on 1 core) | req/s | ratio to bare axum | p50 | p99 | non-2xx | peak RSS |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
row() { read -r rps p50 p99 bad <<<"${RESULT[$2]}"; echo "| $1 | ${rps%.*} | $(ratio "$rps") | $p50 | $p99 | $bad | $((${RSS[$3]} / 1024)) MiB |"; }
row "bare axum POST handler (baseline)" bare bare
row "Switchyard durable ingest (SQLite, fsync per group commit), unverified" ingest ingest
row "Switchyard durable ingest, BigCommerce signature verified" verified verified
row "Switchyard end-to-end: ingest phase" e2e_ingest e2e
echo
echo "End-to-end: $delivered events verified→stored→order-to-erp plugin→delivered to a local sink in $(python3 -c "print(round($end - $start, 1))") s = $e2e_rate events/s ($(ratio "$e2e_rate") of bare axum)."
echo
echo "| open-loop at $HALF req/s for ${SECS}s (half the end-to-end rate) | achieved req/s | p50 | p99 | p99.9 | non-2xx |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
read -r a p50 p99 p999 bad <<<"$PACED_BARE"; echo "| bare axum POST handler (baseline) | $a | $p50 | $p99 | $p999 | $bad |"
read -r a p50 p99 p999 bad <<<"$PACED_E2E"; echo "| Switchyard end-to-end (ack latency; delivery runs behind it) | $a | $p50 | $p99 | $p999 | $bad |"
echo
echo "During the paced run $paced_delivered events were delivered; the store was empty ${drain_s} s after the load ended."

