-- wrk script: POST BigCommerce order webhooks, each with its own `hash` (so dedup folds none
-- together), paced to about RATE requests a second over all connections, and count answers.
--   wrk -t2 -c32 -d30s -s bench/orders.lua http://127.0.0.1:8080 -- RATE CONNECTIONS
-- At the end it prints "answers: <2xx> ok, <other> not ok" summed over threads.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local rate = tonumber(args[1] or "3000")
  local connections = tonumber(args[2] or "32")
  pause_ms = math.floor(connections * 1000 / rate)
  ok, bad = 0, 0
  wrk.method = "POST"
  wrk.path = "/hooks/bigcommerce"
  wrk.headers["content-type"] = "application/json"
end

function delay()
  return pause_ms
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"scope":"store/order/created","store_id":"1025646","data":{"type":"order","id":%d},'
      .. '"hash":"wrk-%d-%d","created_at":1561479335,"producer":"stores/abc123"}',
    counter, id, counter)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_bad = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("bad")
  end
  io.write(string.format("answers: %d ok, %d not ok\n", total_ok, total_bad))
end
