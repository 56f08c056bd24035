#!/usr/bin/env bash
# Load benchmark: Switchyard's durable ingest, verified ingest and end-to-end path against two
# baselines measured in the same run on the same core budget — a bare axum handler, and
# `wasmtime serve` answering trivial requests (bench/hello-proxy, issue 6's yardstick) — then
# latency at a fixed rate, half of what `wasmtime serve` answered, with an open-loop
# generator (host/examples/paced_load.rs).
#
#   bash bench/load.sh [seconds=20] [connections=64] [budgets="core machine"]
#   PACED_RATE=7250 bash bench/load.sh ...   # open-loop runs at a fixed rate instead
#
# Two core budgets, each a full pass:
#   core     the server under test pinned to CPU 1; wrk, the open-loop generator and the
#            delivery sink pinned to CPU 0: "what one core of server does";
#   machine  nothing pinned: server, load generator and sink share both cores, as on a
#            small edge box.
# Every row also gives the server's CPU time per request (utime + stime from /proc/PID/stat over
# the run, divided by the requests wrk counted; end to end: per delivered event, the drain
# included), which the host's loopback cost moves far less than throughput.
# Results are printed as Markdown tables ready for BENCHMARKS.md. Needs wrk (installed from
# Debian if missing), python3 (stdlib only), and wasmtime 48 for the yardstick: taken from PATH
# if it is 48.x, otherwise built once into target/bench-tools (`cargo install wasmtime-cli`,
# several minutes the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
CONNS=${2:-64}
BUDGETS=${3:-core machine}
command -v wrk >/dev/null || { sudo -n true 2>/dev/null && SUDO=sudo || SUDO=; $SUDO apt-get install -y wrk >/dev/null; }

cargo build --release --bin switchyard --example bare_axum --example paced_load 2>&1 | tail -1
BIN=target/release/switchyard
BARE=target/release/examples/bare_axum
PACED=target/release/examples/paced_load

TOOLS=$PWD/target/bench-tools
WASMTIME=$(command -v wasmtime || true)
if [ -z "$WASMTIME" ] || ! "$WASMTIME" --version | grep -q '^wasmtime 48\.'; then
  WASMTIME=$TOOLS/bin/wasmtime
  [ -x "$WASMTIME" ] || CARGO_TARGET_DIR=$TOOLS/build cargo install wasmtime-cli --version 48.0.8 --locked --root "$TOOLS"
fi
CARGO_TARGET_DIR=$TOOLS/hello-proxy cargo build --release --target wasm32-wasip2 \
  --manifest-path bench/hello-proxy/Cargo.toml 2>&1 | tail -1
HELLO=$TOOLS/hello-proxy/wasm32-wasip2/release/hello_proxy.wasm

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export SWITCHYARD_CACHE_DIR="$WORK/cache"
SERVER_PORT=18080
SINK_PORT=19000
SECRET=bench-client-secret
URL="http://127.0.0.1:$SERVER_PORT/hooks/bigcommerce"

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
rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, in clock ticks
HZ=$(getconf CLK_TCK)
cpu_us_per() { python3 -c "print(round($1 / $HZ * 1e6 / max($2, 1), 1))"; }  # ticks, count
sink_count() { curl -s "127.0.0.1:$SINK_PORT/count"; }
sqlite_pending() {  # $1 = database
  python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"select (select count(*) from events where state='pending')+(select count(*) from deliveries where state='pending')\").fetchone()[0])" "$1"
}

lua "$WORK/plain.lua"
body > "$WORK/body.json"
config ingest 'provider = "bigcommerce"' ''
config verified "provider = \"bigcommerce\"
secrets = [\"$SECRET\"]" ''
E2E_ROUTES='[[routes]]
match = "store/order/*"
plugin = "order-to-erp"
to = ["erp"]'
config e2e "provider = \"bigcommerce\"
secrets = [\"$SECRET\"]" "$E2E_ROUTES"

WASMTIME_SERVE=("$WASMTIME" serve -O pooling-allocator=y --addr "127.0.0.1:$SERVER_PORT" "$HELLO")

declare -A RESULT CPU RSS PACED_RESULT DELIVERED E2E_SECS E2E_RATE HALF_RATE PACED_DELIVERED DRAIN
for budget in $BUDGETS; do
  case $budget in
    core) SERVER_CPUS=(taskset -c 1); LOAD_CPUS=(taskset -c 0) ;;
    machine) SERVER_CPUS=(); LOAD_CPUS=() ;;
    *) echo "unknown budget $budget (core or machine)" >&2; exit 2 ;;
  esac

  run_wrk() {  # $1 = lua file → prints "rps p50 p99 non2xx"
    "${LOAD_CPUS[@]}" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$1" "$URL" > "$WORK/wrk.out"
    local rps p50 p99 non2xx
    rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
    p50=$(awk '$1=="50%" {print $2}' "$WORK/wrk.out")
    p99=$(awk '$1=="99%" {print $2}' "$WORK/wrk.out")
    non2xx=$(awk '/Non-2xx/ {print $5}' "$WORK/wrk.out"); non2xx=${non2xx:-0}
    echo "$rps $p50 $p99 $non2xx"
  }
  measure() {  # $1 = label, $2 = lua, $3.. = command to start the server
    local label=$1 luaf=$2; shift 2
    "${SERVER_CPUS[@]}" "$@" 2>"$WORK/$label.log" & local pid=$!
    wait_port $SERVER_PORT
    local ticks; ticks=$(cpu_ticks $pid)
    RESULT[$budget.$label]=$(run_wrk "$luaf")
    CPU[$budget.$label]=$(cpu_us_per $(( $(cpu_ticks $pid) - ticks )) "$(awk '/requests in/ {print $1}' "$WORK/wrk.out")")
    RSS[$budget.$label]=$(rss_kib $pid)
    kill -TERM $pid; wait $pid 2>/dev/null || true
  }
  paced() {  # $1 = label, $2.. = command to start the server → "achieved p50 p99 p99.9 non2xx"
    local label=$1; shift
    "${SERVER_CPUS[@]}" "$@" 2>"$WORK/$label.log" & local pid=$!
    wait_port $SERVER_PORT
    "${LOAD_CPUS[@]}" "$PACED" "$URL" "$HALF" "$SECS" --body "$WORK/body.json" \
      --header 'content-type: application/json' "${SIGNED_ARGS[@]}" > "$WORK/$label.paced"
    PACED_RESULT[$budget.$label]=$(awk '/^achieved_rate/ {a=$2} /^p50/ {p50=$2} /^p99 / {p99=$2} /^p99.9/ {p999=$2}
      /^non_2xx/ {bad=$2} END {print a, p50, p99, p999, bad}' "$WORK/$label.paced")
    if [ "$label" = e2e ]; then  # the store must drain: everything acknowledged is delivered
      local load_end; load_end=$(date +%s.%N)
      for _ in $(seq 1 600); do [ "$(sqlite_pending "$WORK/e2e.db")" = 0 ] && break; sleep 0.1; done
      DRAIN[$budget]=$(python3 -c "print(round($(date +%s.%N) - $load_end, 1))")
    fi
    kill -TERM $pid; wait $pid 2>/dev/null || true
  }

  # Signed afresh for each pass: a signature's timestamp is accepted for 5 minutes.
  mapfile -t SIGNED < <(signed_headers)
  lua "$WORK/signed.lua" "${SIGNED[@]}"
  SIGNED_ARGS=(); for h in "${SIGNED[@]}"; do SIGNED_ARGS+=(--header "$h"); done

  "${LOAD_CPUS[@]}" "$BARE" "127.0.0.1:$SINK_PORT" & SINK=$!
  wait_port $SINK_PORT

  measure bare "$WORK/plain.lua" "$BARE" "127.0.0.1:$SERVER_PORT"
  measure wasmtime "$WORK/plain.lua" "${WASMTIME_SERVE[@]}"
  rm -f "$WORK"/*.db*
  measure ingest "$WORK/plain.lua" "$BIN" serve --no-watch --config "$WORK/ingest.toml"
  measure verified "$WORK/signed.lua" "$BIN" serve --no-watch --config "$WORK/verified.toml"

  # End-to-end: load for SECS, then wait until every accepted event has been delivered.
  before=$(sink_count)
  start=$(date +%s.%N)
  "${SERVER_CPUS[@]}" "$BIN" serve --no-watch --config "$WORK/e2e.toml" 2>"$WORK/e2e.log" & E2E=$!
  wait_port $SERVER_PORT
  e2e_ticks=$(cpu_ticks $E2E)
  RESULT[$budget.e2e_ingest]=$(run_wrk "$WORK/signed.lua")
  for _ in $(seq 1 600); do [ "$(sqlite_pending "$WORK/e2e.db")" = 0 ] && break; sleep 0.25; done
  end=$(date +%s.%N)
  e2e_ticks=$(( $(cpu_ticks $E2E) - e2e_ticks ))
  RSS[$budget.e2e]=$(rss_kib $E2E)
  kill -TERM $E2E; wait $E2E 2>/dev/null || true
  DELIVERED[$budget]=$(( $(sink_count) - before ))
  CPU[$budget.e2e_ingest]=$(cpu_us_per "$e2e_ticks" "${DELIVERED[$budget]}")  # per delivered event
  E2E_SECS[$budget]=$(python3 -c "print(round($end - $start, 1))")
  E2E_RATE[$budget]=$(python3 -c "print(round(${DELIVERED[$budget]} / ($end - $start)))")

  # Latency at half of what `wasmtime serve` answered on this budget, open loop, fresh store.
  read -r wasmtime_rps _ <<<"${RESULT[$budget.wasmtime]}"
  HALF=${PACED_RATE:-$(python3 -c "print(int($wasmtime_rps / 2))")}
  HALF_RATE[$budget]=$HALF
  paced bare "$BARE" "127.0.0.1:$SERVER_PORT"
  paced wasmtime "${WASMTIME_SERVE[@]}"
  rm -f "$WORK"/e2e.db*
  before=$(sink_count)
  paced e2e "$BIN" serve --no-watch --config "$WORK/e2e.toml"
  PACED_DELIVERED[$budget]=$(( $(sink_count) - before ))

  kill -TERM $SINK; wait $SINK 2>/dev/null || true
done

fmt() { python3 -c "print(f'{round(float(\"$1\")):,}')"; }
echo
for budget in $BUDGETS; do
  case $budget in
    core) what="server on 1 core; load generator and sink on the other" ;;
    machine) what="nothing pinned: server, load generator and sink share 2 cores" ;;
  esac
  read -r bare_rps _ <<<"${RESULT[$budget.bare]}"
  read -r wt_rps _ <<<"${RESULT[$budget.wasmtime]}"
  ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
  echo "### Budget \`$budget\`: $what"
  echo
  echo "| run ($CONNS connections, ${SECS}s) | req/s | ratio to bare axum | ratio to wasmtime serve | server CPU µs per request | CPU ratio to bare axum | p50 | p99 | non-2xx | peak RSS |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  row() {
    read -r rps p50 p99 bad <<<"${RESULT[$budget.$2]}"
    local cpu=${CPU[$budget.$2]}
    echo "| $1 | $(fmt "$rps") | $(ratio "$rps" "$bare_rps") | $(ratio "$rps" "$wt_rps") | $cpu | $(ratio "$cpu" "${CPU[$budget.bare]}") | $p50 | $p99 | $bad | $((${RSS[$budget.$3]} / 1024)) MiB |"
  }
  row "bare axum POST handler (baseline)" bare bare
  row "\`wasmtime serve\`, trivial wasi:http handler (yardstick)" wasmtime wasmtime
  row "Switchyard durable ingest (SQLite, fsync per group commit), unverified" ingest ingest
  row "Switchyard durable ingest, BigCommerce signature verified" verified verified
  row "Switchyard end-to-end (verified), ingest during the load (CPU: per delivered event, drain included)" e2e_ingest e2e
  rate=${E2E_RATE[$budget]}
  echo
  echo "**End-to-end: ${DELIVERED[$budget]} events verified → stored → order-to-erp plugin → delivered to the sink in ${E2E_SECS[$budget]} s = $(fmt "$rate") events/s: $(ratio "$rate" "$wt_rps") of \`wasmtime serve\`, $(ratio "$rate" "$bare_rps") of bare axum.**"
  echo
  paced_why=${PACED_RATE:+"fixed by PACED_RATE"}
  echo "| open loop at $(fmt "${HALF_RATE[$budget]}") req/s (${paced_why:-half of \`wasmtime serve\`}) for ${SECS}s | achieved req/s | p50 | p99 | p99.9 | non-2xx |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  prow() { read -r a p50 p99 p999 bad <<<"${PACED_RESULT[$budget.$2]}"; echo "| $1 | $(fmt "$a") | $p50 | $p99 | $p999 | $bad |"; }
  prow "bare axum POST handler" bare
  prow "\`wasmtime serve\`, trivial handler" wasmtime
  prow "Switchyard end-to-end (acknowledgement latency; delivery runs behind it)" e2e
  echo
  echo "During the paced end-to-end run ${PACED_DELIVERED[$budget]} events were delivered; the store was empty ${DRAIN[$budget]} s after the load ended."
  echo
done
