"""The Lua scripts of the Redis quota store: each decision is one script, so that replicas
never interleave a check with another's increment. Time comes from the Redis server
(`TIME`), so replicas with skewed clocks still share one window.

Per scope, seven keys (all under one hash tag, see `redis_store`): r requests (sorted set of
request ids by time), t tokens (sorted set), w token weights (hash id -> tokens), s the
tokens' sum, p parallel leases (sorted set by lease end), d and m the day's and month's
committed spend (nano-USD). A limit of -1 means none.
"""

ADMIT = r"""
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local W = 60000
local rid = ARGV[1]
local tokens = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local n = tonumber(ARGV[5])

local function trim_tokens(t, w, s)
  while true do
    local old = redis.call('ZRANGEBYSCORE', t, '-inf', now - W, 'LIMIT', 0, 500)
    if #old == 0 then return end
    local weights = redis.call('HMGET', w, unpack(old))
    local freed = 0
    for i = 1, #weights do freed = freed + (tonumber(weights[i]) or 0) end
    redis.call('HDEL', w, unpack(old))
    redis.call('ZREM', t, unpack(old))
    if freed > 0 then redis.call('DECRBY', s, freed) end
  end
end

-- Seconds (ms) until `excess` weight has left the window, walking oldest first.
local function wait_tokens(t, w, excess)
  local start = 0
  while start < 5000 do
    local batch = redis.call('ZRANGE', t, start, start + 199, 'WITHSCORES')
    if #batch == 0 then break end
    local ids = {}
    for i = 1, #batch, 2 do ids[#ids + 1] = batch[i] end
    local weights = redis.call('HMGET', w, unpack(ids))
    for i = 1, #ids do
      excess = excess - (tonumber(weights[i]) or 0)
      if excess <= 0 then return tonumber(batch[2 * i]) + W - now end
    end
    start = start + 200
  end
  return W
end

local function oldest_reset(z)
  local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  if #first == 0 then return 0 end
  return tonumber(first[2]) + W - now
end

-- Pass 1: every scope's check; the first refusal wins and nothing is counted.
for i = 0, n - 1 do
  local k = i * 7
  local a = 6 + i * 5
  local rpm, tpm, par = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local dbud, mbud = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  if dbud >= 0 and tonumber(redis.call('GET', KEYS[k + 6]) or '0') >= dbud then
    return {0, 'day_budget', i, dbud, 0, -1, -1, -1}
  end
  if mbud >= 0 and tonumber(redis.call('GET', KEYS[k + 7]) or '0') >= mbud then
    return {0, 'month_budget', i, mbud, 0, -1, -1, -1}
  end
  if par >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 5], '-inf', now)
    if redis.call('ZCARD', KEYS[k + 5]) >= par then
      return {0, 'parallel', i, par, 1000, -1, -1, -1}
    end
  end
  if rpm >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], '-inf', now - W)
    local count = redis.call('ZCARD', KEYS[k + 1])
    if count + 1 > rpm then
      local nth = redis.call('ZRANGE', KEYS[k + 1], count - rpm, count - rpm, 'WITHSCORES')
      local wait = W
      if #nth > 0 then wait = tonumber(nth[2]) + W - now end
      return {0, 'requests', i, rpm, wait, rpm, 0, oldest_reset(KEYS[k + 1])}
    end
  end
  if tpm >= 0 then
    trim_tokens(KEYS[k + 2], KEYS[k + 3], KEYS[k + 4])
    if tokens > tpm then return {0, 'too_large', i, tpm, 0, -1, -1, -1} end
    local used = tonumber(redis.call('GET', KEYS[k + 4]) or '0')
    if used + tokens > tpm then
      local wait = wait_tokens(KEYS[k + 2], KEYS[k + 3], used + tokens - tpm)
      local left = tpm - used
      if left < 0 then left = 0 end
      return {0, 'tokens', i, tpm, wait, tpm, left, oldest_reset(KEYS[k + 2])}
    end
  end
end

-- Pass 2: count the request everywhere; report the tightest window of each kind.
local rq = {-1, -1, 0}
local tk = {-1, -1, 0}
for i = 0, n - 1 do
  local k = i * 7
  local a = 6 + i * 5
  local rpm, tpm, par = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local dbud, mbud = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  if rpm >= 0 then
    redis.call('ZADD', KEYS[k + 1], now, rid)
    redis.call('PEXPIRE', KEYS[k + 1], W + 1000)
    local left = rpm - redis.call('ZCARD', KEYS[k + 1])
    if rq[1] < 0 or left < rq[2] then rq = {rpm, left, oldest_reset(KEYS[k + 1])} end
  end
  if tpm >= 0 then
    redis.call('ZADD', KEYS[k + 2], now, rid)
    redis.call('HSET', KEYS[k + 3], rid, tokens)
    local used = redis.call('INCRBY', KEYS[k + 4], tokens)
    for j = 2, 4 do redis.call('PEXPIRE', KEYS[k + j], W + 1000) end
    local left = tpm - used
    if left < 0 then left = 0 end
    if tk[1] < 0 or left < tk[2] then tk = {tpm, left, oldest_reset(KEYS[k + 2])} end
  end
  if par >= 0 then
    redis.call('ZADD', KEYS[k + 5], now + lease, rid)
    -- Only ever lengthen the set's life: a short lease must not expire a longer one's.
    if redis.call('PTTL', KEYS[k + 5]) < lease + 1000 then
      redis.call('PEXPIRE', KEYS[k + 5], lease + 1000)
    end
  end
  if dbud >= 0 then
    redis.call('INCRBY', KEYS[k + 6], cost)
    redis.call('EXPIRE', KEYS[k + 6], 2 * 86400)
  end
  if mbud >= 0 then
    redis.call('INCRBY', KEYS[k + 7], cost)
    redis.call('EXPIRE', KEYS[k + 7], 32 * 86400)
  end
end
return {1, rq[1], rq[2], rq[3], tk[1], tk[2], tk[3]}
"""

# KEYS as for ADMIT; ARGV: request id, token delta, cost delta, then per scope whether it
# counts tokens, holds a lease, has a day and a month budget (1/0).
SETTLE = r"""
local rid = ARGV[1]
local dtok = tonumber(ARGV[2])
local dcost = tonumber(ARGV[3])
local n = (#KEYS) / 7
for i = 0, n - 1 do
  local k = i * 7
  local a = 4 + i * 4
  if ARGV[a] == '1' and dtok ~= 0 then
    local w = tonumber(redis.call('HGET', KEYS[k + 3], rid) or '-1')
    if w >= 0 then
      local new = w + dtok
      if new < 0 then new = 0 end
      redis.call('HSET', KEYS[k + 3], rid, new)
      redis.call('INCRBY', KEYS[k + 4], new - w)
    end
  end
  if ARGV[a + 1] == '1' then redis.call('ZREM', KEYS[k + 5], rid) end
  if dcost ~= 0 then
    for j = 2, 3 do
      if ARGV[a + j] == '1' and redis.call('EXISTS', KEYS[k + 4 + j]) == 1 then
        local v = redis.call('INCRBY', KEYS[k + 4 + j], dcost)
        if v < 0 then redis.call('SET', KEYS[k + 4 + j], 0, 'KEEPTTL') end
      end
    end
  end
end
return 1
"""
