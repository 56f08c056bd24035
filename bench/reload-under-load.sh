#!/usr/bin/env bash
# Hot reload under load (issue 3), and cold vs warm start.
#
# Starts the release binary on a temporary routes.toml (BigCommerce orders -> plugin p ->
# destination a; p.wasm is a copy of order-to-erp), drives it with wrk from a second process
# at about RATE requests/s for DURATION seconds, and meanwhile makes CHANGES config edits
# (moving the route between destinations a and b, saved by rename or in place) and CHANGES
# plugin swaps (order-to-erp <-> envelope, whose outputs differ). After each change a probe
# posts orders until one arrives changed, and the time from the write to that delivery is kept.
# Reports non-2xx answers, socket errors, events accepted vs delivered, the slowest change,
# and the time from process start to the "config loaded" log line with an empty and with a
# warm SWITCHYARD_CACHE_DIR.
#
#   bench/reload-under-load.sh                       # release build (built if missing)
#   BIN=target/debug/switchyard RATE=300 bench/reload-under-load.sh   # quick check
#
# Only loopback addresses are used. Everything runs in a temp directory, removed at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/switchyard}
RATE=${RATE:-3000}
DURATION=${DURATION:-30}
CONNECTIONS=${CONNECTIONS:-32}
CHANGES=${CHANGES:-20}
PLUGINS=$ROOT/target/plugins/wasm32-wasip2/release

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)…" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
if [[ ! -x $BIN || ! -f $PLUGINS/order_to_erp.wasm ]]; then
  (cd "$ROOT" && cargo build --release -p switchyard)
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK (KEEP is set)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
INGEST=$(free_port); ADMIN=$(free_port); SINK=$(free_port)
GATEWAY=http://127.0.0.1:$INGEST
SINK_URL=http://127.0.0.1:$SINK

routes() { # routes DESTINATION
  cat <<EOF
[server]
listen = "127.0.0.1:$INGEST"
admin = "127.0.0.1:$ADMIN"

[sources.bigcommerce]
provider = "bigcommerce"

[plugins.p]
path = "p.wasm"
timeout_ms = 1000   # a starved CPU must not dead-letter events and pass for a lost one

[destinations.a]
url = "$SINK_URL/a"

[destinations.b]
url = "$SINK_URL/b"

[[routes]]
name = "orders"
match = "store/order/*"
plugin = "p"
to = ["$1"]
EOF
}

# Starts the gateway with cache dir $1, logging JSON to $2; waits for "config loaded" and
# sets START_MS to the milliseconds from process start to that line.
start_gateway() {
  local started
  started=$(date +%s.%N)
  SWITCHYARD_CACHE_DIR=$1 RUST_LOG=warn,switchyard=info "$BIN" --log-format json serve \
    --config "$WORK/routes.toml" >"$2" 2>&1 &
  GATEWAY_PID=$!
  PIDS+=("$GATEWAY_PID")
  for _ in $(seq 1 3000); do
    if grep -q '"config loaded"' "$2"; then break; fi
    if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then cat "$2" >&2; echo "the gateway exited" >&2; exit 1; fi
    sleep 0.01
  done
  START_MS=$(python3 - "$started" "$2" <<'EOF'
import datetime, json, sys
started = float(sys.argv[1])
for line in open(sys.argv[2]):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("message") == "config loaded":
        at = datetime.datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
        print(f"{(at - started) * 1000:.0f}")
        break
else:
    sys.exit("no config loaded line")
EOF
)
  for _ in $(seq 1 500); do
    curl -s -o /dev/null "$GATEWAY/" && return 0
    sleep 0.01
  done
}

stop_gateway() {
  kill -TERM "$GATEWAY_PID"
  wait "$GATEWAY_PID" || true
}

cp "$PLUGINS/order_to_erp.wasm" "$WORK/p.wasm"
routes a >"$WORK/routes.toml"
python3 "$ROOT/bench/sink.py" serve "$SINK" &
PIDS+=("$!")

# Cold start (empty cache), then warm start (the cache the cold start filled).
start_gateway "$WORK/cache" "$WORK/cold.log"
COLD=$START_MS
stop_gateway
start_gateway "$WORK/cache" "$WORK/warm.log"
WARM=$START_MS
grep -q '"compiled":"\[\]"\|compiled=\[\]\|"compiled":\[\]' "$WORK/warm.log" ||
  echo "warning: the warm start compiled something: $(grep '"config loaded"' "$WORK/warm.log")" >&2

wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$ROOT/bench/orders.lua" "$GATEWAY" -- \
  "$RATE" "$CONNECTIONS" >"$WORK/wrk.txt" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
sleep 1 # let the load reach its rate before the first change

PROBES=0; SLOWEST=0; FAILED_CHANGES=0
record() { # record WHAT "<ms> <accepted>"
  local ms=${2% *}
  PROBES=$((PROBES + ${2#* }))
  if [[ $ms == -1 ]]; then FAILED_CHANGES=$((FAILED_CHANGES + 1)); echo "  $1: not seen within 10 s" >&2
  elif ((ms > SLOWEST)); then SLOWEST=$ms; fi
}
probe() { python3 "$ROOT/bench/sink.py" probe "$GATEWAY" "$SINK_URL" "$@" || true; }

SHAPE=erp
for i in $(seq 1 "$CHANGES"); do
  if ((i % 2)); then DEST=b; else DEST=a; fi
  SINCE=$(date +%s.%N)
  if ((i % 2)); then # editor-style: temp file + rename
    routes $DEST >"$WORK/routes.toml.tmp" && mv "$WORK/routes.toml.tmp" "$WORK/routes.toml"
  else # in place
    routes $DEST >"$WORK/routes.toml"
  fi
  record "edit $i" "$(probe "$SINCE" "e$i-" "/$DEST" "$SHAPE")"

  if [[ $SHAPE == erp ]]; then SHAPE=envelope; NEXT=envelope.wasm; else SHAPE=erp; NEXT=order_to_erp.wasm; fi
  SINCE=$(date +%s.%N)
  if ((i % 2)); then # a build's rename into place
    cp "$PLUGINS/$NEXT" "$WORK/p.wasm.tmp" && mv "$WORK/p.wasm.tmp" "$WORK/p.wasm"
  else # cp over the file
    cp "$PLUGINS/$NEXT" "$WORK/p.wasm"
  fi
  record "swap $i" "$(probe "$SINCE" "s$i-" "/$DEST" "$SHAPE")"
done

wait "$WRK_PID" || true
OK=0; NOT_OK=0
read -r OK NOT_OK < <(sed -n 's/^answers: \([0-9]*\) ok, \([0-9]*\) not ok$/\1 \2/p' "$WORK/wrk.txt") ||
  { echo "wrk printed no answer counts:" >&2; cat "$WORK/wrk.txt" >&2; }
ACCEPTED=$((OK + PROBES))
DELIVERED=0
for _ in $(seq 1 600); do # up to 60 s for the backlog to drain
  DELIVERED=$(curl -s "$SINK_URL/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
  ((DELIVERED >= ACCEPTED)) && break
  sleep 0.1
done
STATS=$(curl -s "$SINK_URL/stats")
RELOADS=$(curl -s "http://127.0.0.1:$ADMIN/api/reload" || echo '{}')
METRICS=$(curl -s "http://127.0.0.1:$ADMIN/metrics" |
  grep -E '^switchyard_(reloads_total|plugin_failures_total|dead_letters_total|events_shed_total)' || true)
stop_gateway

echo
echo "== wrk (${RATE}/s target, ${CONNECTIONS} connections, ${DURATION}s) =="
grep -E 'Requests/sec|Latency|Non-2xx|Socket errors|requests in|^ +(50|99)%' "$WORK/wrk.txt" || true
echo
echo "== hot reload under load =="
echo "changes:              $CHANGES config edits + $CHANGES plugin swaps ($FAILED_CHANGES not seen)"
echo "slowest change seen:  ${SLOWEST} ms from the write to the first delivery showing it"
echo "non-2xx answers:      $NOT_OK (plus socket errors above, if any)"
echo "events accepted:      $ACCEPTED ($OK from wrk, $PROBES probes)"
echo "events delivered:     $DELIVERED (distinct event ids at the sink; may exceed accepted by the"
echo "                      requests in flight when wrk stopped, which it does not count)"
echo "sink:                 $STATS"
echo "reload status:        $RELOADS"
echo "$METRICS" | sed 's/^/metrics:              /'
echo
echo "== start to \"config loaded\" =="
echo "cold (empty cache):   ${COLD} ms"
echo "warm (cache filled):  ${WARM} ms"
((NOT_OK == 0 && DELIVERED >= ACCEPTED && FAILED_CHANGES == 0))
