/**
 * Lua scripts of the redis:// queue. Each runs atomically on the server. Modelled on BullMQ's
 * commands (moveToActive, extendLock, moveToFinished + updateParentDepsIfNeeded,
 * moveStalledJobsToWait), reduced to what voxport's queue contract needs.
 *
 * Keys, all under the prefix `voxport:{NAME}:` (one hash slot):
 *   task      hash  id → "<stage>\n<body>"; never removed before purge, so ids dedupe forever
 *                   (a done task keeps only "<stage>\n")
 *   wait      list  ready ids (LPUSH in, RPOP out)
 *   delayed   zset  id → time its retry becomes ready
 *   active    zset  id → lease expiry;  lease hash id → token;  att hash id → attempts
 *   dead      hash  id → {"error","attempt"} JSON;  err hash id → last error
 *   cnt       hash  "<state>:<stage>" → count, state ∈ enq wait delayed leased done dead
 *   deps:<id> set   children of a parent that are done
 *   meta      hash  job records; "~first-done", "~last-done" (ms)
 *   seq       counter for lease tokens
 * Times are the Redis server's (TIME), so no two machines' clocks are ever compared.
 * Every script takes the prefix as ARGV[1]; keys are derived from it, which is fine on a
 * single server and within one cluster slot thanks to the {NAME} hash tag.
 */

const PRELUDE = `
local P = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function cnt(state, stage, n)
  redis.call('HINCRBY', P .. 'cnt', state .. ':' .. stage, n)
end
local function stage_of(id)
  local v = redis.call('HGET', P .. 'task', id)
  if not v then return '0' end
  return string.match(v, '^(%d+)\\n') or '0'
end
local function add(id, stage, body)
  if redis.call('HSETNX', P .. 'task', id, stage .. '\\n' .. body) == 1 then
    redis.call('LPUSH', P .. 'wait', id)
    cnt('enq', stage, 1)
    cnt('wait', stage, 1)
    return 1
  end
  return 0
end
local function holds(id, token)
  return redis.call('HGET', P .. 'lease', id) == token
end
local function unlease(id)
  redis.call('ZREM', P .. 'active', id)
  redis.call('HDEL', P .. 'lease', id)
end
`;

/** ARGV: prefix, then (id, stage, body) triples. Returns how many were new. */
export const ENQUEUE = `${PRELUDE}
local added = 0
for i = 2, #ARGV, 3 do
  added = added + add(ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
return added
`;

/**
 * ARGV: prefix, max, leaseMs, maxLeases, salt. First takes back expired leases (to wait, or to
 * dead past maxLeases) and due retries, then leases up to max tasks.
 * Returns {expiresAt, id, stage, body, token, attempt, ...}.
 */
export const LEASE = `${PRELUDE}
local max, lease_ms, max_leases, salt = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local now = now_ms()
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'active', '-inf', now, 'LIMIT', 0, 100)) do
  unlease(id)
  local s = stage_of(id)
  cnt('leased', s, -1)
  local a = tonumber(redis.call('HGET', P .. 'att', id) or '0')
  if a >= max_leases then
    redis.call('HSET', P .. 'dead', id, cjson.encode({error = 'lease expired ' .. a ..
      ' times without the task finishing (its workers died?)', attempt = a}))
    cnt('dead', s, 1)
  else
    redis.call('RPUSH', P .. 'wait', id)
    cnt('wait', s, 1)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', P .. 'delayed', id)
  redis.call('RPUSH', P .. 'wait', id)
  local s = stage_of(id)
  cnt('delayed', s, -1)
  cnt('wait', s, 1)
end
local out = {now + lease_ms}
for i = 1, max do
  local id = redis.call('RPOP', P .. 'wait')
  if not id then break end
  local v = redis.call('HGET', P .. 'task', id)
  if v then
    local nl = string.find(v, '\\n', 1, true)
    local s = string.sub(v, 1, nl - 1)
    local a = redis.call('HINCRBY', P .. 'att', id, 1)
    local token = salt .. ':' .. redis.call('INCR', P .. 'seq')
    redis.call('HSET', P .. 'lease', id, token)
    redis.call('ZADD', P .. 'active', now + lease_ms, id)
    cnt('wait', s, -1)
    cnt('leased', s, 1)
    out[#out + 1] = id
    out[#out + 1] = s
    out[#out + 1] = string.sub(v, nl + 1)
    out[#out + 1] = token
    out[#out + 1] = a
  end
end
return out
`;

/** ARGV: prefix, leaseMs, then (id, token) pairs. Returns {expiresAt, 1|0, ...}. */
export const RENEW = `${PRELUDE}
local now = now_ms()
local ms = tonumber(ARGV[2])
local out = {now + ms}
for i = 3, #ARGV, 2 do
  if holds(ARGV[i], ARGV[i + 1]) then
    redis.call('ZADD', P .. 'active', 'XX', now + ms, ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`;

/**
 * ARGV: prefix, id, token, then (parentId, parentStage, parentBody, expected) quadruples.
 * Marks the task done, records it under each parent, enqueues each parent whose set is full
 * (once: `add` dedupes on the id). Returns {1, released ids...} or {0} when the lease is lost.
 */
export const COMPLETE = `${PRELUDE}
local id, token = ARGV[2], ARGV[3]
if not holds(id, token) then return {0} end
unlease(id)
local s = stage_of(id)
cnt('leased', s, -1)
cnt('done', s, 1)
redis.call('HSET', P .. 'task', id, s .. '\\n')
redis.call('HDEL', P .. 'att', id)
redis.call('HDEL', P .. 'err', id)
local now = now_ms()
redis.call('HSETNX', P .. 'meta', '~first-done', now)
redis.call('HSET', P .. 'meta', '~last-done', now)
local out = {1}
for i = 4, #ARGV, 4 do
  local pid = ARGV[i]
  local key = P .. 'deps:' .. pid
  redis.call('SADD', key, id)
  if redis.call('SCARD', key) >= tonumber(ARGV[i + 3]) then
    if add(pid, ARGV[i + 1], ARGV[i + 2]) == 1 then out[#out + 1] = pid end
    redis.call('DEL', key)
  end
end
return out
`;

/** ARGV: prefix, id, token, retryable (1|0), delayMs, error, maxAttempts.
 * Returns 'retry', 'dead' or 'lost'. */
export const FAIL = `${PRELUDE}
local id, token = ARGV[2], ARGV[3]
if not holds(id, token) then return 'lost' end
unlease(id)
local s = stage_of(id)
cnt('leased', s, -1)
local a = tonumber(redis.call('HGET', P .. 'att', id) or '0')
redis.call('HSET', P .. 'err', id, ARGV[6])
if ARGV[4] == '1' and a < tonumber(ARGV[7]) then
  redis.call('ZADD', P .. 'delayed', now_ms() + tonumber(ARGV[5]), id)
  cnt('delayed', s, 1)
  return 'retry'
end
redis.call('HSET', P .. 'dead', id, cjson.encode({error = ARGV[6], attempt = a}))
cnt('dead', s, 1)
return 'dead'
`;

/** ARGV: prefix, id, token. Back to ready without counting the attempt. Returns 1|0. */
export const RELEASE = `${PRELUDE}
local id, token = ARGV[2], ARGV[3]
if not holds(id, token) then return 0 end
unlease(id)
local s = stage_of(id)
redis.call('HINCRBY', P .. 'att', id, -1)
redis.call('RPUSH', P .. 'wait', id)
cnt('leased', s, -1)
cnt('wait', s, 1)
return 1
`;

/** ARGV: prefix, max. Moves up to max dead tasks back to wait with attempts reset. */
export const RETRY_FAILED = `${PRELUDE}
local n = 0
local ids = redis.call('HKEYS', P .. 'dead')
for i = 1, math.min(#ids, tonumber(ARGV[2])) do
  local id = ids[i]
  redis.call('HDEL', P .. 'dead', id)
  redis.call('HDEL', P .. 'err', id)
  redis.call('HSET', P .. 'att', id, 0)
  redis.call('LPUSH', P .. 'wait', id)
  local s = stage_of(id)
  cnt('dead', s, -1)
  cnt('wait', s, 1)
  n = n + 1
end
return n
`;

/** ARGV: prefix, max. Ends up to max leases. */
export const RELEASE_ALL = `${PRELUDE}
local n = 0
for _, id in ipairs(redis.call('ZRANGE', P .. 'active', 0, tonumber(ARGV[2]) - 1)) do
  unlease(id)
  redis.call('RPUSH', P .. 'wait', id)
  local s = stage_of(id)
  cnt('leased', s, -1)
  cnt('wait', s, 1)
  n = n + 1
end
return n
`;
