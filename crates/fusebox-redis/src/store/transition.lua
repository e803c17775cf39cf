-- Records a state decided by one instance and tells every instance.
-- KEYS[1] state hash, KEYS[2] window hash, KEYS[3] probe lease
-- ARGV: action (open | close | reset | forced_open | disabled), open_ms, ttl_ms, channel, name,
--       lease (the "<instance>:<token>" of this instance's probe lease, or empty)
-- A probe's result ('close') counts only while its lease is still held: a prober whose lease
-- expired (and was perhaps given to another instance) cannot close the breaker late.
-- open: only if not already open (a concurrent trip elsewhere wins); close: only if not closed.
-- Returns {state, generation, remaining_open_ms}.
local action, open_ms, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local st = redis.call('HMGET', KEYS[1], 'state', 'gen', 'until')
local state, gen, open_until = st[1] or 'closed', tonumber(st[2] or '0'), tonumber(st[3] or '0')
local changed = false
if action == 'open' then
  if not (state == 'open' and open_until > now) and state ~= 'forced_open' then
    state, open_until, changed = 'open', now + open_ms, true
  end
elseif action == 'close' then
  local holds = ARGV[6] ~= '' and redis.call('GET', KEYS[3]) == ARGV[6]
  if holds and state ~= 'closed' and state ~= 'forced_open' and state ~= 'disabled' then
    state, open_until, changed = 'closed', 0, true
  end
elseif action == 'reset' then
  state, open_until, changed = 'closed', 0, true
elseif action == 'forced_open' or action == 'disabled' then
  state, open_until, changed = action, 0, true
end
if action == 'reset' or (ARGV[6] ~= '' and redis.call('GET', KEYS[3]) == ARGV[6]) then
  -- This instance's probe is over (or an operator reset the breaker): free the lease. A lease
  -- held by another instance is left alone, so a late result cannot end someone else's probe.
  redis.call('DEL', KEYS[3])
end
if changed then
  -- At least Redis's clock in milliseconds: generations keep growing across a restart that
  -- lost the data (see flush.lua).
  gen = math.max(gen + 1, now)
  redis.call('HSET', KEYS[1], 'state', state, 'gen', string.format('%d', gen), 'until', open_until)
  if state == 'closed' then redis.call('DEL', KEYS[2]) end
  local remaining = 0
  if state == 'open' then remaining = open_until - now end
  redis.call('PUBLISH', ARGV[4],
    ARGV[5] .. '\t' .. state .. '\t' .. string.format('%d', gen) .. '\t' .. remaining)
end
redis.call('PEXPIRE', KEYS[1], ttl)
local remaining = 0
if state == 'open' then remaining = math.max(0, open_until - now) end
return {state, gen, remaining}
