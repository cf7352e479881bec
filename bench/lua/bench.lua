-- The one wrk script behind every scenario (bench/wrk.py writes its inputs).
--
-- wrk ... -s bench/lua/bench.lua URL -- requests=FILE threads=N [partition=1] [generator=FILE]
--
-- FILE holds one request per line: method TAB path TAB body TAB "Name: value" TAB ...
-- (the body with \\ \t \n \r \0 escaped). Each thread cycles through the lines; with
-- partition=1 thread i keeps only lines i, i+N, ... so single-use requests (wx.login codes) are
-- never sent twice by two threads. A generator file defines generate(n) -> wrk.format(...) and
-- replaces the list. done() prints one "BENCH_RESULT {json}" line for the harness.

local next_thread = 0

function setup(thread)
   thread:set("thread_index", next_thread)
   next_thread = next_thread + 1
end

prepared = {}  -- global: a generator may use the loaded list
local position = 1
local counter = 0
local unescapes = { ["\\"] = "\\", t = "\t", n = "\n", r = "\r", ["0"] = "\0" }

local function format(line)
   local fields = {}
   for field in (line .. "\t"):gmatch("([^\t]*)\t") do
      fields[#fields + 1] = field
   end
   local headers = {}
   for i = 4, #fields do
      local name, value = fields[i]:match("^([^:]+):%s*(.*)$")
      if name then
         headers[name] = value
      end
   end
   local body = nil
   if fields[3] ~= "" then
      body = (fields[3]:gsub("\\(.)", unescapes))
   end
   return wrk.format(fields[1], fields[2], headers, body)
end

function init(args)
   local options = {}
   for _, arg in ipairs(args) do
      local key, value = arg:match("^([%w_]+)=(.*)$")
      if key then
         options[key] = value
      end
   end
   local threads = tonumber(options.threads or "1")
   local me = thread_index or 0
   local partition = options.partition == "1"
   if options.requests then
      local n = 0
      for line in io.lines(options.requests) do
         if line ~= "" then
            if not partition or n % threads == me then
               prepared[#prepared + 1] = format(line)
            end
            n = n + 1
         end
      end
   end
   if options.generator then
      dofile(options.generator)
   elseif #prepared == 0 then
      error("no requests for thread " .. me)
   elseif not partition then
      -- Threads sharing one list start at different places in it.
      position = (me * 7919) % #prepared + 1
   end
end

function request()
   if generate then
      counter = counter + 1
      return generate(counter)
   end
   local prepared_request = prepared[position]
   position = position % #prepared + 1
   return prepared_request
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "mean_us": %.1f, "p50_us": %d, '
         .. '"p90_us": %d, "p99_us": %d, "max_us": %d, "errors_connect": %d, "errors_read": %d, '
         .. '"errors_write": %d, "errors_status": %d, "errors_timeout": %d}\n',
      summary.requests, summary.duration, summary.bytes, latency.mean, latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency.max, errors.connect, errors.read,
      errors.write, errors.status, errors.timeout
   ))
end
