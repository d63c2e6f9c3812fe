-- The soak test's request mix for wrk (see test_soak.py), run with one thread:
--   wrk -t1 -d600s -s _soak_mix.lua URL -- <responses>
-- The thread cycles through a shuffled list of requests; after <responses> answers it stops
-- and prints "SOAK-DONE", on which the test interrupts wrk (which would otherwise sleep out
-- the whole duration). done() prints one "SOAK {json}" line with the counts to assert on.

local json_body = '{"name":"soak","items":[1,2,3],"nested":{"ok":true,"text":"caf\\u00e9"}}'
local br, gz = {["Accept-Encoding"] = "br"}, {["Accept-Encoding"] = "gzip"}
local any_enc = {["Accept-Encoding"] = "gzip, deflate, br"}

-- {copies, method, path, headers, body, expected 404}
local MIX = {
  {8, "GET", "/json"},
  {6, "GET", "/plaintext"},
  {1, "GET", "/users/1/posts/2"}, {1, "GET", "/users/42/posts/7"},
  {1, "GET", "/users/123456/posts/999"}, {1, "GET", "/users/7/posts/1000"},
  {1, "GET", "/users/1/posts/5000", nil, nil, true},   -- the handler raises NotFoundError
  {1, "GET", "/users/abc/posts/1", nil, nil, true},    -- does not convert to int
  {1, "GET", "/no/such/page", nil, nil, true},
  {4, "POST", "/echo", {["Content-Type"] = "application/json"}, json_body},
  {3, "GET", "/slow"}, {1, "GET", "/slow", any_enc},
  {1, "GET", "/slow/uncached"},
  {1, "GET", "/big"}, {2, "GET", "/big", br}, {1, "GET", "/big", gz},
  {1, "GET", "/big/uncached", gz},
  {2, "GET", "/table"}, {1, "GET", "/table", any_enc},
  {1, "GET", "/report"}, {1, "GET", "/api/report"},
  {2, "GET", "/static/style.css"}, {1, "GET", "/static/index.html", gz},
  {1, "GET", "/static/missing.css", nil, nil, true},
  {1, "GET", "/openapi.json"},
  {1, "GET", "/tasks"},
}

-- Counters are globals: done() reads them from each thread with thread:get().
local requests, threads = {}, {}
local limit, index = 0, 0
sent404, responses, c2, c3, c4, c5, other = 0, 0, 0, 0, 0, 0, 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  limit = tonumber(args[1])
  for _, m in ipairs(MIX) do
    for _ = 1, m[1] do
      table.insert(requests, {wrk.format(m[2], m[3], m[4], m[5]), m[6] == true})
    end
  end
  -- A fixed shuffle: kinds interleave, and every run sends the same sequence.
  math.randomseed(20261121)
  for i = #requests, 2, -1 do
    local j = math.random(i)
    requests[i], requests[j] = requests[j], requests[i]
  end
end

function request()
  index = index % #requests + 1
  local r = requests[index]
  if r[2] then sent404 = sent404 + 1 end
  return r[1]
end

function response(status, headers, body)
  responses = responses + 1
  if status < 300 then c2 = c2 + 1
  elseif status < 400 then c3 = c3 + 1
  elseif status < 500 then c4 = c4 + 1
  elseif status < 600 then c5 = c5 + 1
  else other = other + 1 end
  if responses == limit then
    wrk.thread:stop()
    io.write("SOAK-DONE\n")
    io.flush()
  end
end

function done(summary, latency, reqs)
  local t = {responses = 0, s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0, other = 0, sent404 = 0}
  for _, thread in ipairs(threads) do
    t.responses = t.responses + thread:get("responses")
    t.s2xx = t.s2xx + thread:get("c2")
    t.s3xx = t.s3xx + thread:get("c3")
    t.s4xx = t.s4xx + thread:get("c4")
    t.s5xx = t.s5xx + thread:get("c5")
    t.other = t.other + thread:get("other")
    t.sent404 = t.sent404 + thread:get("sent404")
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK {"requests": %d, "duration_us": %d, "responses": %d, "s2xx": %d, "s3xx": %d, ' ..
    '"s4xx": %d, "s5xx": %d, "other": %d, "sent404": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, t.responses, t.s2xx, t.s3xx, t.s4xx, t.s5xx, t.other,
    t.sent404, e.connect, e.read, e.write, e.timeout, latency:percentile(99)))
end
