-- wrk script for `cargo xtask bench`: every configuration sends the same request through the
-- same script, so the load generator does the same work whatever sits in Envoy.
--
-- Arguments (after `--`): a file of grant tokens, one per line; the method; the path; the
-- body (may be empty). Requests cycle through the tokens: with one token every request
-- carries it (what a cache sees), with thousands every request carries one the gate has not
-- seen recently (no cache help). The formatted requests are built once in `init`, so the
-- per-request cost in wrk is a table lookup.
--
-- `done` prints one machine-readable line the runner parses; latencies are in microseconds.

local requests = {}
local next_index = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  local method, path, body = args[2], args[3], args[4]
  if body == nil or body == "" then body = nil end
  for token in file:lines() do
    local headers = { ["authorization"] = "Bearer " .. token }
    if body then headers["content-type"] = "application/json" end
    requests[#requests + 1] = wrk.format(method, path, headers, body)
  end
  file:close()
  assert(#requests > 0, "no tokens in " .. args[1])
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, _requests)
  local e = summary.errors
  io.write(string.format(
    "JITGATE_BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
