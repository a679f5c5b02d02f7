-- What both profiles share: every request a POST of JSON; ids unique across wrk runs
-- (BENCH_RUN, set by the runner for each) and threads (the global tid, set in each
-- thread's state by setup); one result line the runner reads.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local run = os.getenv("BENCH_RUN") or tostring(os.time())
local threads = 0

function setup(thread)
  thread:set("tid", run .. "-" .. threads)
  threads = threads + 1
end

-- Latencies in microseconds; any answer other than 2xx counts as an error.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "wrk-result requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
