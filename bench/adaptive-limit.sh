#!/usr/bin/env bash
# Where the adaptive concurrency limit goes against a fast sink (the bare axum sink) under
# compare.py's load (64 connections, 20 s): samples GET /api/destinations every 2.5 s.
# Needs a release build (cargo build --release --bin switchyard --example bare_axum) and wrk.
#   bash bench/adaptive-limit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
W=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf $W' EXIT
export SWITCHYARD_CACHE_DIR=$W/cache
target/release/examples/bare_axum 127.0.0.1:19000 & 
cat > $W/c.toml <<T
[server]
listen = "127.0.0.1:18080"
admin = "127.0.0.1:18090"
[storage]
url = "sqlite://$W/x.db"
[sources.bigcommerce]
provider = "bigcommerce"
dedup_window_secs = 0
[plugins.p]
path = "$PWD/target/plugins/wasm32-wasip2/release/order_to_erp.wasm"
config = { currency = "USD" }
[destinations.erp]
url = "http://127.0.0.1:19000/erp"
[[routes]]
match = "store/order/*"
plugin = "p"
to = ["erp"]
T
target/release/switchyard serve --no-watch --config $W/c.toml 2>$W/log &
sleep 1.5
cat > $W/p.lua <<'L'
wrk.method = "POST"
wrk.body = [[{"scope":"store/order/created","store_id":"1025646","data":{"type":"order","id":250},"hash":"x","created_at":1561479335,"producer":"stores/abc123"}]]
wrk.headers["Content-Type"] = "application/json"
L
wrk -t1 -c64 -d20s -s $W/p.lua http://127.0.0.1:18080/hooks/bigcommerce > $W/wrk.out &
for i in $(seq 1 8); do sleep 2.5; curl -s 127.0.0.1:18090/api/destinations | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d if isinstance(d,list) else d.get("destinations",d); e=[x for x in d if x.get("name")=="erp"][0]; g=e["gateway"]; print({k:g.get(k) for k in ("concurrency_limit","in_flight","rtt_baseline_ms","waiting")})'; done
wait %3 2>/dev/null || true
grep "Requests/sec" $W/wrk.out
