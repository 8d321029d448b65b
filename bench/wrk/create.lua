-- Create throughput (wrk -s create.lua URL-of-the-collection): every request POSTs a
-- connection whose name no other request uses. 201s are counted and their ids kept, so
-- the harness can check after a SIGKILL that every acknowledged create is stored.
--
-- Environment: BENCH_URL (the connections' url, a loopback listener),
-- BENCH_NAME_PREFIX (unique per run), BENCH_IDS_FILE (where the acknowledged ids go).
-- The token comes with wrk's -H, which wrk.format adds to every request.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
counter = 0
created = 0
other = 0
last_other = ""
ids = {}
local prefix, body_tail
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  -- wrk.format uses the given headers instead of wrk.headers (-H): keep both.
  for name, value in pairs(wrk.headers) do headers[name] = value end
  prefix = (os.getenv("BENCH_NAME_PREFIX") or "w") .. tid .. "-"
  body_tail = string.format(
    '","service":"RDS","url":"%s","security_group_id":"sg-bench","network_id":"net-bench",'
      .. '"tags":[{"key":"bench","value":"create"}]}',
    os.getenv("BENCH_URL"))
end

function request()
  counter = counter + 1
  return wrk.format("POST", nil, headers, '{"name":"' .. prefix .. counter .. body_tail)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    local id = body:match('"connection_id"%s*:%s*"([%x%-]+)"')
    if id then ids[#ids + 1] = id end
  else
    other = other + 1
    last_other = status .. " " .. body:sub(1, 200)
  end
end

function done(summary, latency, requests)
  local total_created, total_other, sample = 0, 0, ""
  local out = assert(io.open(os.getenv("BENCH_IDS_FILE"), "w"))
  for _, thread in ipairs(threads) do
    total_created = total_created + thread:get("created")
    total_other = total_other + thread:get("other")
    if thread:get("last_other") ~= "" then sample = thread:get("last_other") end
    for _, id in ipairs(thread:get("ids")) do out:write(id, "\n") end
  end
  out:close()
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"created":%.0f,"other":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"mean":%.1f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f,"max":%.0f},' ..
    '"other_sample":"%s"}\n',
    summary.requests, summary.duration, summary.bytes, total_created, total_other,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    sample:gsub('[%c"\\]', "?")))
end
