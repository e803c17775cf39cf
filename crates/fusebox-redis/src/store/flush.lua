-- Adds one instance's outcome deltas to the shared window, drops buckets older than the
-- window, and trips the shared state when the window meets the failure-rate rule.
-- KEYS[1] state hash, KEYS[2] window hash, KEYS[3] reporters (zset: instance -> last failure)
-- ARGV: calls, failures, bucket_ms, buckets, rate (0 = no shared rule), min_calls, open_ms,
--       ttl_ms, channel, name, instance, quorum (distinct instances that must report failures)
-- Returns {state, generation, remaining_open_ms}.
local calls, failures = tonumber(ARGV[1]), tonumber(ARGV[2])
local bucket_ms, buckets = tonumber(ARGV[3]), tonumber(ARGV[4])
local rate, min_calls, open_ms = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local ttl = tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bucket = math.floor(now / bucket_ms)
if calls > 0 then
  redis.call('HINCRBY', KEYS[2], 'c:' .. bucket, calls)
  redis.call('HINCRBY', KEYS[2], 'f:' .. bucket, failures)
end
local quorum = tonumber(ARGV[12])
local reporters = 0
if quorum > 1 then
  if failures > 0 then redis.call('ZADD', KEYS[3], now, ARGV[11]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - bucket_ms * buckets)
  reporters = redis.call('ZCARD', KEYS[3])
  if reporters > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
end
local fields = redis.call('HGETALL', KEYS[2])
local total_calls, total_failures = 0, 0
for i = 1, #fields, 2 do
  local field, value = fields[i], tonumber(fields[i + 1])
  local b = tonumber(string.sub(field, 3))
  if b <= bucket - buckets then
    redis.call('HDEL', KEYS[2], field)
  elseif string.sub(field, 1, 1) == 'c' then
    total_calls = total_calls + value
  else
    total_failures = total_failures + value
  end
end
if #fields > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
local st = redis.call('HMGET', KEYS[1], 'state', 'gen', 'until')
local state, gen, open_until = st[1] or 'closed', tonumber(st[2] or '0'), tonumber(st[3] or '0')
if state == 'closed' and rate > 0 and total_calls > 0 and total_calls >= min_calls
    and total_failures / total_calls >= rate and (quorum <= 1 or reporters >= quorum) then
  -- Generations are at least Redis's clock in milliseconds: they keep growing across a
  -- restart that lost the data, so instances that saw older ones still follow.
  state, gen, open_until = 'open', math.max(gen + 1, now), now + open_ms
  redis.call('HSET', KEYS[1], 'state', state, 'gen', string.format('%d', gen), 'until', open_until)
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('PUBLISH', ARGV[9],
    ARGV[10] .. '\t' .. state .. '\t' .. string.format('%d', gen) .. '\t' .. open_ms)
end
if st[1] or state ~= 'closed' then redis.call('PEXPIRE', KEYS[1], ttl) end
local remaining = 0
if state == 'open' then remaining = math.max(0, open_until - now) end
return {state, gen, remaining}
