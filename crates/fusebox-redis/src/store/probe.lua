-- Decides which instance probes when its open period ends: the one that wins the lease.
-- KEYS[1] state hash, KEYS[3] probe lease
-- ARGV: instance, lease_ms
-- Returns {decision, wait_ms, lease, generation}: granted (lease = "<instance>:<fencing
-- token>") | wait (stay open wait_ms) | closed | forced_open, with the shared generation the
-- decision was made in, so an instance can tell a late reply from news.
local lease = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local st = redis.call('HMGET', KEYS[1], 'state', 'until', 'gen')
local state, open_until = st[1] or 'closed', tonumber(st[2] or '0')
local gen = st[3] or '0'
if state == 'forced_open' then return {'forced_open', 0, '', gen} end
if state == 'open' and open_until > now then return {'wait', open_until - now, '', gen} end
if state == 'closed' and st[1] then return {'closed', 0, '', gen} end
if redis.call('EXISTS', KEYS[3]) == 0 then
  -- Every lease gets a new token, so a stale holder's late result can be told apart. Tokens
  -- are at least Redis's clock in milliseconds, so they keep growing across a restart that
  -- lost the data.
  local fence = math.max(tonumber(redis.call('HGET', KEYS[1], 'fence') or '0') + 1, now)
  redis.call('HSET', KEYS[1], 'fence', string.format('%d', fence))
  local value = ARGV[1] .. ':' .. string.format('%d', fence)
  redis.call('SET', KEYS[3], value, 'PX', lease)
  return {'granted', 0, value, gen}
end
return {'wait', math.max(1, redis.call('PTTL', KEYS[3])), '', gen}
