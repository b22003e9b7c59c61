-- wrk script for scripts/bench_ingest.py: POST engagement with unique message ids.
--
--   BENCH_TOKEN=ph_... wrk -t2 -c64 -d15s -s scripts/bench/ingest_wrk.lua \
--       http://127.0.0.1:8765/api/communities/<slug>/engagement -- <run-prefix> <viewers> <batch>
--
-- Every event gets the message id "<run-prefix>-<thread>-<request>-<event>", so no two events of
-- a run (or of two runs with different prefixes) repeat; viewers are drawn uniformly from
-- v0..v<viewers-1>. batch = 1 sends one event object, more sends {"events": [...]}.
-- done() prints one JSON line (prefixed "WRK_JSON ") with throughput, latency percentiles,
-- HTTP status counts and the number of events the server reported as accepted.
-- With the single argument "GET" it sends plain GETs (the /healthz reference), so both runs pay
-- the same per-response Lua cost in wrk.

local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

local prefix, viewers, batch
local get_only = false
local counter = 0
statuses = {}
accepted = 0
rate_limited = 0

function init(args)
  if args[1] == "GET" then
    get_only = true
    return
  end
  prefix = args[1] or "run"
  viewers = tonumber(args[2] or "10000")
  batch = tonumber(args[3] or "1")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
  math.randomseed(os.time() + 7919 * tid)
end

local function event(i)
  return string.format(
    '{"platform_user_id":"v%d","metric":"message","value":1,"message_id":"%s-%d-%d-%d"}',
    math.random(viewers) - 1, prefix, tid, counter, i)
end

function request()
  if get_only then
    return wrk.format("GET")
  end
  counter = counter + 1
  local body
  if batch == 1 then
    body = event(1)
  else
    local parts = {}
    for i = 1, batch do
      parts[i] = event(i)
    end
    body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status == 200 then
    local n = string.match(body, '"accepted":%s*(%d+)')
    if n then accepted = accepted + tonumber(n) end
    local r = string.match(body, '"rate_limited":%s*(%d+)')
    if r then rate_limited = rate_limited + tonumber(r) end
  end
end

function done(summary, latency, requests)
  local codes = {}
  local total_accepted, total_limited = 0, 0
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for k, v in pairs(s) do codes[k] = (codes[k] or 0) + v end
    total_accepted = total_accepted + t:get("accepted")
    total_limited = total_limited + t:get("rate_limited")
  end
  local code_parts = {}
  for k, v in pairs(codes) do
    table.insert(code_parts, string.format('"%s":%d', k, v))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_s":%.3f,"requests":%d,"bytes":%d,"rps":%.1f,' ..
    '"latency_ms":{"mean":%.2f,"p50":%.2f,"p90":%.2f,"p95":%.2f,"p99":%.2f,"max":%.2f},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"statuses":{%s},"accepted_events":%d,"rate_limited_events":%d}\n',
    summary.duration / 1e6, summary.requests, summary.bytes,
    summary.requests / (summary.duration / 1e6),
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(code_parts, ","), total_accepted, total_limited))
end
