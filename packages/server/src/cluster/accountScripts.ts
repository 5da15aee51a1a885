/**
 * What relay nodes decide together for the accounts (docs/PROTOCOL.md §12), as Redis scripts: each
 * runs atomically, on Redis's clock, so a bucket, a cap, a challenge taken once or a presence change
 * is decided once for all nodes.
 *
 * Size: the scripts are one unit (each is the prelude plus its body) and read best together.
 *
 * Keys, for a prefix P (all under `Pa:`): `b:<tag>` (hash t tokens, at: a token bucket; the tag is an
 * HMAC of the bucket's space and key: name, address or account id), `pl:<id>` (hash a address tag,
 * s sealed login: a pending login), `plz` (zset id by end), `pla:<tag>` (zset id by end: an
 * address's), `bc:<tag>` (a session's bind challenge; the tag is an HMAC of the session hash), `bcz`
 * (zset tag by end), `rq:<id>` (hash u account, s session tag, k sealed session hash, i identity key,
 * t tag, c created, e ends, o outcome: a device request), `rqu:<account>` (zset id by creation),
 * `rqz` (zset id by end), `tk:<tag>` (hash u d e: a blob ticket by the HMAC of its value), `td:<device>`
 * (hash v sealed ticket, e, h its tag, u), `tu:<account>` (set of devices with a ticket), `on:<account>`
 * (hash node -> authenticated channels there), `n:<node>` (set of accounts with channels there),
 * `hb:<node>` (heartbeat, expires), `nodes`, `told` (set of accounts whose contacts were told they are
 * online), `pend` (accounts to announce again: their node died), `gen` (channel generations).
 *
 * Published on `Pa:bus`, one line each: `D device gen` (a channel of the device authenticated),
 * `P account 0|1 at contact...` (presence), and from the nodes themselves `N account what`,
 * `R a b aOnline bOnline contacts blocked`, `X device` (removed), `M device seq...` (mail), `A account`
 * (deleted). Ids are the store's random ids (base64url); no name, address or secret is published.
 */

const PRELUDE = `
local P = ARGV[1] .. 'a:'
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function live(node) return redis.call('EXISTS', P .. 'hb:' .. node) == 1 end
local function online(user)
  local f = redis.call('HGETALL', P .. 'on:' .. user)
  for j = 1, #f, 2 do if live(f[j]) then return true end end
  return false
end
`;

/** Takes a token: 0, or the ms until the next one. ARGV: P tag burst intervalMs */
const TAKE = `
local k, burst, iv = P .. 'b:' .. ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local f = redis.call('HMGET', k, 't', 'at')
local tokens = burst
if f[1] then tokens = math.min(burst, tonumber(f[1]) + math.max(0, NOW - tonumber(f[2])) / iv) end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.max(1, math.ceil((1 - tokens) * iv)) end
redis.call('HSET', k, 't', tostring(tokens), 'at', tostring(NOW))
redis.call('PEXPIRE', k, math.ceil((burst - tokens) * iv) + 1)
return wait
`;

/** ARGV: P tag */
const FILL = `
redis.call('DEL', P .. 'b:' .. ARGV[2])
return 1
`;

/** 1 when one more login may be pending. ARGV: P addressTag max maxPerAddress */
const ROOM = `
local Z, A = P .. 'plz', P .. 'pla:' .. ARGV[2]
redis.call('ZREMRANGEBYSCORE', Z, '-inf', NOW)
redis.call('ZREMRANGEBYSCORE', A, '-inf', NOW)
if redis.call('ZCARD', Z) >= tonumber(ARGV[3]) or redis.call('ZCARD', A) >= tonumber(ARGV[4]) then return 0 end
return 1
`;

/** ARGV: P id addressTag sealed ttlMs */
const HOLD = `
local id, a, ttl = ARGV[2], ARGV[3], tonumber(ARGV[5])
local k = P .. 'pl:' .. id
redis.call('HSET', k, 'a', a, 's', ARGV[4])
redis.call('PEXPIRE', k, ttl)
redis.call('ZADD', P .. 'plz', NOW + ttl, id)
redis.call('ZADD', P .. 'pla:' .. a, NOW + ttl, id)
redis.call('PEXPIRE', P .. 'pla:' .. a, ttl)
return 1
`;

/** The sealed login, taken; nil. ARGV: P id */
const UNHOLD = `
local k = P .. 'pl:' .. ARGV[2]
local f = redis.call('HMGET', k, 'a', 's')
if not f[2] then return false end
redis.call('DEL', k)
redis.call('ZREM', P .. 'plz', ARGV[2])
redis.call('ZREM', P .. 'pla:' .. f[1], ARGV[2])
return f[2]
`;

/** A session's new challenge: when it ends, or 0 when the cluster holds `total`. ARGV: P sessionTag nonce ttlMs total */
const CHALLENGE = `
local Z, k, ttl = P .. 'bcz', P .. 'bc:' .. ARGV[2], tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', Z, '-inf', NOW)
redis.call('DEL', k)
redis.call('ZREM', Z, ARGV[2])
if redis.call('ZCARD', Z) >= tonumber(ARGV[5]) then return 0 end
redis.call('SET', k, ARGV[3], 'PX', ttl)
redis.call('ZADD', Z, NOW + ttl, ARGV[2])
return NOW + ttl
`;

/** The session's live challenge, taken; nil. ARGV: P sessionTag */
const UNCHALLENGE = `
local k = P .. 'bc:' .. ARGV[2]
local v = redis.call('GET', k)
redis.call('DEL', k)
redis.call('ZREM', P .. 'bcz', ARGV[2])
return v
`;

const REQUEST_PRELUDE = `
local function rq(i) return P .. 'rq:' .. i end
local FIELDS = {'u', 's', 'k', 'i', 't', 'c', 'e', 'o'}
local function read(i)
  local f = redis.call('HMGET', rq(i), unpack(FIELDS))
  if not f[1] then return nil end
  return {i, f[2], f[3], f[4], f[5], f[6], f[7], f[8]}
end
-- The account's live requests without an outcome, oldest first (index entries of expired ones go).
local function openOf(user)
  local U, out = P .. 'rqu:' .. user, {}
  for _, i in ipairs(redis.call('ZRANGE', U, 0, -1)) do
    local r = read(i)
    if not r then redis.call('ZREM', U, i) elseif r[8] == '' then table.insert(out, r) end
  end
  return out
end
`;

/** A new request: {created, ends}, or nil when the cluster holds `total`. ARGV: P user id sessionTag sealedAsker key tag ttl perAccount total */
const REQUEST = `${REQUEST_PRELUDE}
local user, id, ttl = ARGV[2], ARGV[3], tonumber(ARGV[8])
local U, Z = P .. 'rqu:' .. user, P .. 'rqz'
redis.call('ZREMRANGEBYSCORE', Z, '-inf', NOW)
local mine = openOf(user)
for j = 1, #mine - tonumber(ARGV[9]) + 1 do
  local i = mine[j][1]
  redis.call('DEL', rq(i)); redis.call('ZREM', U, i); redis.call('ZREM', Z, i)
end
if redis.call('ZCARD', Z) >= tonumber(ARGV[10]) then return false end
redis.call('HSET', rq(id), 'u', user, 's', ARGV[4], 'k', ARGV[5], 'i', ARGV[6], 't', ARGV[7], 'c', tostring(NOW), 'e', tostring(NOW + ttl), 'o', '')
redis.call('PEXPIRE', rq(id), ttl)
redis.call('ZADD', U, NOW, id)
redis.call('PEXPIRE', U, ttl)
redis.call('ZADD', Z, NOW + ttl, id)
return {tostring(NOW), tostring(NOW + ttl)}
`;

/** ARGV: P user */
const REQUESTS = `${REQUEST_PRELUDE}
return openOf(ARGV[2])
`;

/** ARGV: P user id */
const REQUEST_GET = `${REQUEST_PRELUDE}
local f = redis.call('HGET', rq(ARGV[3]), 'u')
if f ~= ARGV[2] then return false end
return read(ARGV[3])
`;

/** 1 when the request had no outcome and now has this one. ARGV: P user id outcome */
const SETTLE = `
local k = P .. 'rq:' .. ARGV[3]
local f = redis.call('HMGET', k, 'u', 'o')
if f[1] ~= ARGV[2] or f[2] ~= '' then return 0 end
redis.call('HSET', k, 'o', ARGV[4])
return 1
`;

/** ARGV: P user */
const FORGET = `
local U = P .. 'rqu:' .. ARGV[2]
for _, i in ipairs(redis.call('ZRANGE', U, 0, -1)) do
  redis.call('DEL', P .. 'rq:' .. i)
  redis.call('ZREM', P .. 'rqz', i)
end
redis.call('DEL', U)
return 1
`;

const TICKET_PRELUDE = `
local function dropDevice(device)
  local D = P .. 'td:' .. device
  local h = redis.call('HGET', D, 'h')
  if h then redis.call('DEL', P .. 'tk:' .. h) end
  redis.call('DEL', D)
end
`;

/** The device's live ticket (sealed) and its end, else this new one's. ARGV: P user device tag sealed lifetimeMs */
const TICKET = `${TICKET_PRELUDE}
local user, device = ARGV[2], ARGV[3]
local D = P .. 'td:' .. device
local f = redis.call('HMGET', D, 'v', 'e', 'u')
if f[1] and tonumber(f[2]) > NOW and f[3] == user then return {f[1], f[2]} end
dropDevice(device)
local e = NOW + tonumber(ARGV[6])
local T = P .. 'tk:' .. ARGV[4]
redis.call('HSET', T, 'u', user, 'd', device, 'e', tostring(e))
redis.call('PEXPIREAT', T, e)
redis.call('HSET', D, 'v', ARGV[5], 'e', tostring(e), 'h', ARGV[4], 'u', user)
redis.call('PEXPIREAT', D, e)
local U = P .. 'tu:' .. user
redis.call('SADD', U, device)
redis.call('PEXPIREAT', U, e)
return {ARGV[5], tostring(e)}
`;

/** {user, device, ends} of a live ticket; nil. ARGV: P tag */
const TICKET_CHECK = `
local f = redis.call('HMGET', P .. 'tk:' .. ARGV[2], 'u', 'd', 'e')
if not f[1] or tonumber(f[3]) <= NOW then return false end
return f
`;

/** ARGV: P device */
const TICKET_DROP = `${TICKET_PRELUDE}
dropDevice(ARGV[2])
return 1
`;

/** ARGV: P user */
const TICKET_DROP_USER = `${TICKET_PRELUDE}
local U = P .. 'tu:' .. ARGV[2]
for _, d in ipairs(redis.call('SMEMBERS', U)) do dropDevice(d) end
redis.call('DEL', U)
return 1
`;

/** A channel authenticated on this node: its generation (published). ARGV: P node user device heartbeatMs */
const UP = `
local node, user = ARGV[2], ARGV[3]
redis.call('SET', P .. 'hb:' .. node, 1, 'PX', tonumber(ARGV[5]))
redis.call('SADD', P .. 'nodes', node)
redis.call('HINCRBY', P .. 'on:' .. user, node, 1)
redis.call('SADD', P .. 'n:' .. node, user)
local gen = redis.call('INCR', P .. 'gen')
redis.call('PUBLISH', P .. 'bus', 'D ' .. ARGV[4] .. ' ' .. gen)
return gen
`;

/** A channel of this node closed: 1 when the user has none left on a live node. ARGV: P node user */
const DOWN = `
local node, user = ARGV[2], ARGV[3]
local O = P .. 'on:' .. user
if redis.call('HEXISTS', O, node) == 1 and redis.call('HINCRBY', O, node, -1) <= 0 then
  redis.call('HDEL', O, node)
  redis.call('SREM', P .. 'n:' .. node, user)
end
if online(user) then return 0 end
return 1
`;

/** 1 or 0 for each user. ARGV: P user... */
const ONLINE = `
local out = {}
for j = 2, #ARGV do out[j - 1] = online(ARGV[j]) and 1 or 0 end
return out
`;

/** Publishes the user's presence to its contacts if it is not what they were told last. ARGV: P user contacts */
const ANNOUNCE = `
local user = ARGV[2]
local on = online(user)
local told = redis.call('SISMEMBER', P .. 'told', user) == 1
redis.call('SREM', P .. 'pend', user)
if on == told then return 0 end
if on then redis.call('SADD', P .. 'told', user) else redis.call('SREM', P .. 'told', user) end
local msg = 'P ' .. user .. ' ' .. (on and '1' or '0') .. ' ' .. tostring(NOW)
if ARGV[3] ~= '' then msg = msg .. ' ' .. ARGV[3] end
redis.call('PUBLISH', P .. 'bus', msg)
return 1
`;

/**
 * Every node's heartbeat and sweep: the channels of nodes whose heartbeat ended are gone, and their
 * users are to be announced again. Returns {1 if this node's own heartbeat had ended, users to
 * announce (at most `limit`)}. A node stopping sweeps with alive 0. ARGV: P node heartbeatMs alive limit
 */
const SWEEP = `
local node = ARGV[2]
local lost = 0
if ARGV[4] == '1' then
  if not live(node) then lost = 1 end
  redis.call('SET', P .. 'hb:' .. node, 1, 'PX', tonumber(ARGV[3]))
  redis.call('SADD', P .. 'nodes', node)
else
  redis.call('DEL', P .. 'hb:' .. node)
end
for _, n in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
  if not live(n) then
    for _, u in ipairs(redis.call('SMEMBERS', P .. 'n:' .. n)) do
      redis.call('HDEL', P .. 'on:' .. u, n)
      redis.call('SADD', P .. 'pend', u)
    end
    redis.call('DEL', P .. 'n:' .. n)
    redis.call('SREM', P .. 'nodes', n)
  end
end
return {lost, redis.call('SRANDMEMBER', P .. 'pend', tonumber(ARGV[5]))}
`;

/** A node whose heartbeat had ended (paused, cut off) puts its channels back. ARGV: P node heartbeatMs user count ... */
const RESTORE = `
local node = ARGV[2]
redis.call('SET', P .. 'hb:' .. node, 1, 'PX', tonumber(ARGV[3]))
redis.call('SADD', P .. 'nodes', node)
for j = 4, #ARGV, 2 do
  redis.call('HSET', P .. 'on:' .. ARGV[j], node, ARGV[j + 1])
  redis.call('SADD', P .. 'n:' .. node, ARGV[j])
end
return 1
`;

export const accountScripts = {
  TAKE,
  FILL,
  ROOM,
  HOLD,
  UNHOLD,
  CHALLENGE,
  UNCHALLENGE,
  REQUEST,
  REQUESTS,
  REQUEST_GET,
  SETTLE,
  FORGET,
  TICKET,
  TICKET_CHECK,
  TICKET_DROP,
  TICKET_DROP_USER,
  UP,
  DOWN,
  ONLINE,
  ANNOUNCE,
  SWEEP,
  RESTORE,
} as const;
export type AccountScript = keyof typeof accountScripts;

export const accountScriptSource = (name: AccountScript): string => PRELUDE + accountScripts[name];
