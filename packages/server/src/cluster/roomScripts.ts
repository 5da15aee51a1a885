/**
 * The delivery-service rules of docs/PROTOCOL.md §4 as Redis scripts, for relay nodes that share
 * their rooms (docs/PROTOCOL.md §12). Each script runs atomically in Redis, so the checks a single
 * relay makes in one event-loop turn (one commit per epoch, the next seq, the next slot, the
 * budgets) are made once for all nodes, and what it publishes reaches every node in the order the
 * scripts ran.
 *
 * Size: over 400 lines of Lua and TypeScript would split the prelude from the scripts that use it;
 * it is one unit (every script is the prelude plus its body), so it stays in one file.
 *
 * Keys, for a prefix P and a room key K (the locator in hex), all of one room under the hash tag
 * {K}: `P{K}:r` (hash: loc, epoch, seq, next, gi, gio, gic, creator, open, deadline, dropped, lb,
 * h<slot>), `P{K}:s` (slot -> SHA-256 of its resume token), `P{K}:l` (live slot -> node),
 * `P{K}:a` (away slot -> "until,seq"), `P{K}:ad` (slot -> address charged), `P{K}:log` (stream:
 * id "seq-0", fields k e f d), `P{K}:lm` (list "seq,at,bytes" of the log's entries, oldest first),
 * `P{K}:h:<slot>` (list of DIRECT frames held for an away slot: "afterSeq from\n" + data).
 * Global: `Pgi` (GroupInfo bytes charged), `Pad:<address>` (hash: m memberships, gi bytes, nr/nt
 * new-room bucket, cr/ct commit bucket, fr/ft frame bucket), `Paway` (zset "K|slot" by end of grace), `Pdl` (zset K by creator deadline),
 * `Pn:<node>` (set "K|slot" live on that node), `Pnodes`, `Phb:<node>` (heartbeat).
 *
 * Published on `P{K}:c`, each message "<type><seq> <fields>\n<bytes>": D seq kind epoch from (a
 * delivery), G seq slot (a slot left for good), S seq epoch what slot (a group state: r READY to all
 * but `slot`, with the GroupInfo; o creation open to all but `slot`; c `slot` is the creator now),
 * X seq to from node (a DIRECT for a slot live on that node), T seq slot oldNode newNode (a slot was resumed on
 * newNode). `seq` is the room's seq when it was published: where it falls in the room's stream.
 */

const PRELUDE = `
local P = ARGV[1]
local K, R, RH, TOK, LIVE, AWAY, ADDR, LOG, LM, CH
local function use(k)
  K = k; R = P .. '{' .. k .. '}'
  RH = R .. ':r'; TOK = R .. ':s'; LIVE = R .. ':l'; AWAY = R .. ':a'; ADDR = R .. ':ad'
  LOG = R .. ':log'; LM = R .. ':lm'; CH = R .. ':c'
end
local function num(v) return tonumber(v) or 0 end
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function held(slot) return R .. ':h:' .. slot end
-- The address's token bucket in fields tf (tokens) and af (as of) of Pad:<a>: takes up to want
-- whole tokens (refilled by one per interval ms, at most burst) and returns how many it took.
local function bucket(a, tf, af, burst, interval, want)
  local key = P .. 'ad:' .. a
  local b = redis.call('HMGET', key, tf, af)
  local tokens = b[1] and tonumber(b[1]) or burst
  local at = b[2] and tonumber(b[2]) or NOW
  tokens = math.min(burst, tokens + math.max(0, NOW - at) / interval)
  local took = math.max(0, math.min(want, math.floor(tokens)))
  redis.call('HSET', key, tf, tostring(tokens - took), af, NOW)
  redis.call('EXPIRE', key, 86400)
  return took
end
local function charge(a, field, delta)
  if not a or a == '' then return end
  local key = P .. 'ad:' .. a
  redis.call('HINCRBY', key, field, delta)
  redis.call('EXPIRE', key, 86400)
end
local function releaseGi()
  local c = num(redis.call('HGET', RH, 'gic'))
  if c > 0 then
    redis.call('DECRBY', P .. 'gi', c)
    charge(redis.call('HGET', RH, 'gio'), 'gi', -c)
  end
  redis.call('HDEL', RH, 'gi', 'gio', 'gic')
end
local function setGi(gi, a, maxTotal, maxPerAddr)
  local c = 2 * #gi
  local old = num(redis.call('HGET', RH, 'gic'))
  local owner = redis.call('HGET', RH, 'gio') or ''
  if num(redis.call('GET', P .. 'gi')) - old + c > maxTotal then return false end
  if a ~= '' then
    local mine = num(redis.call('HGET', P .. 'ad:' .. a, 'gi'))
    if owner == a then mine = mine - old end
    if mine + c > maxPerAddr then return false end
  end
  releaseGi()
  redis.call('HSET', RH, 'gi', gi, 'gio', a, 'gic', c)
  redis.call('INCRBY', P .. 'gi', c)
  charge(a, 'gi', c)
  return true
end
local function publish(msg) redis.call('PUBLISH', CH, msg) end
local function releaseHeld(slot)
  local hb = num(redis.call('HGET', RH, 'h' .. slot))
  if hb > 0 then redis.call('HINCRBY', RH, 'lb', -hb) end
  redis.call('HDEL', RH, 'h' .. slot)
  redis.call('DEL', held(slot))
end
local function deleteRoom()
  releaseGi()
  redis.call('DEL', RH, TOK, LIVE, AWAY, ADDR, LOG, LM)
  redis.call('ZREM', P .. 'dl', K)
end
local function arm(slot, ctimeout)
  redis.call('HSET', RH, 'creator', slot, 'deadline', NOW + ctimeout)
  redis.call('ZADD', P .. 'dl', NOW + ctimeout, K)
end
-- The slot, no longer live nor away, is gone: PEER_GONE, or the room goes with its last slot.
local function depart(slot, ctimeout)
  charge(redis.call('HGET', ADDR, slot), 'm', -1)
  redis.call('HDEL', TOK, slot); redis.call('HDEL', ADDR, slot)
  redis.call('HDEL', AWAY, slot); redis.call('HDEL', LIVE, slot)
  redis.call('ZREM', P .. 'away', K .. '|' .. slot)
  releaseHeld(slot)
  if redis.call('HLEN', TOK) == 0 then deleteRoom() return end
  local f = redis.call('HMGET', RH, 'seq', 'epoch', 'creator', 'open')
  publish('G' .. f[1] .. ' ' .. slot .. '\\n')
  if f[3] == tostring(slot) and f[4] ~= '1' then
    local lowest
    for _, s in ipairs(redis.call('HKEYS', LIVE)) do
      if not lowest or tonumber(s) < lowest then lowest = tonumber(s) end
    end
    if lowest then
      arm(lowest, ctimeout)
      publish('S' .. f[1] .. ' ' .. f[2] .. ' c ' .. lowest .. '\\n')
    end
  end
end
-- The log keeps its entries for keepMs and at most maxBytes (with what is held for away slots).
local function trim(keep, maxBytes)
  local lb = num(redis.call('HGET', RH, 'lb'))
  while true do
    local first = redis.call('LINDEX', LM, 0)
    if not first then break end
    local seq, at, size = string.match(first, '^(%d+),(%d+),(%d+)$')
    if lb <= maxBytes and tonumber(at) >= NOW - keep then break end
    redis.call('LPOP', LM)
    redis.call('XDEL', LOG, seq .. '-0')
    lb = lb - tonumber(size)
    redis.call('HSET', RH, 'dropped', seq)
  end
  redis.call('HSET', RH, 'lb', lb)
end
local function append(kind, epoch, from, data, keep, maxBytes)
  local seq = redis.call('HINCRBY', RH, 'seq', 1)
  redis.call('XADD', LOG, seq .. '-0', 'k', kind, 'e', epoch, 'f', from, 'd', data)
  redis.call('RPUSH', LM, seq .. ',' .. NOW .. ',' .. #data)
  redis.call('HINCRBY', RH, 'lb', #data)
  publish('D' .. seq .. ' ' .. kind .. ' ' .. epoch .. ' ' .. from .. '\\n' .. data)
  trim(keep, maxBytes)
  return seq
end
local function hold(to, from, data, seq)
  redis.call('RPUSH', held(to), seq .. ' ' .. from .. '\\n' .. data)
  redis.call('HINCRBY', RH, 'h' .. to, #data)
  redis.call('HINCRBY', RH, 'lb', #data)
end
local function mine(slot, node) return redis.call('HGET', LIVE, slot) == node end
-- What refuses a delivery (APP, COMMIT) from a slot for an epoch; nil when it may be sequenced.
local function refuseDelivery(slot, node, epoch)
  if not mine(slot, node) then return {'NOT_IN_ROOM', 0} end
  local f = redis.call('HMGET', RH, 'seq', 'epoch', 'gi')
  if not f[3] then return {'NO_GROUP', f[1]} end
  if f[2] ~= epoch then return {'STALE_EPOCH', f[1]} end
  return nil
end
-- A live slot loses its connection: away for grace ms, or gone with no group (nothing to resume).
local function goAway(slot, grace, ctimeout)
  local f = redis.call('HMGET', RH, 'seq', 'gi')
  if not f[2] or grace <= 0 then depart(slot, ctimeout) return end
  redis.call('HDEL', LIVE, slot)
  redis.call('HSET', AWAY, slot, (NOW + grace) .. ',' .. f[1])
  redis.call('ZADD', P .. 'away', NOW + grace, K .. '|' .. slot)
end
`;

/** ARGV: P K locator tokenHash node address maxMembers maxRoomsPerAddress newRoomBurst newRoomIntervalMs createTimeoutMs */
const JOIN = `
use(ARGV[2])
local locator, th, node, a = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local maxMembers, maxRooms, burst, interval, ctimeout = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
if a ~= '' and num(redis.call('HGET', P .. 'ad:' .. a, 'm')) >= maxRooms then return {'ADDRESS_LIMIT'} end
if redis.call('EXISTS', RH) == 1 then
  if redis.call('HLEN', TOK) >= maxMembers then return {'ROOM_FULL'} end
else
  if a ~= '' and bucket(a, 'nr', 'nt', burst, interval, 1) == 0 then return {'TOO_MANY_NEW_ROOMS'} end
  redis.call('HSET', RH, 'loc', locator, 'epoch', 0, 'seq', 0, 'next', 1, 'dropped', 0, 'lb', 0, 'open', 0)
end
local slot = redis.call('HINCRBY', RH, 'next', 1) - 1
redis.call('HSET', TOK, slot, th)
redis.call('HSET', LIVE, slot, node)
redis.call('HSET', ADDR, slot, a)
redis.call('SADD', P .. 'n:' .. node, K .. '|' .. slot)
charge(a, 'm', 1)
local f = redis.call('HMGET', RH, 'seq', 'epoch', 'gi', 'creator', 'open')
local status = 'r'
if not f[3] then
  if not f[4] and f[5] ~= '1' then arm(slot, ctimeout); f[4] = tostring(slot) end
  if f[5] == '1' or f[4] == tostring(slot) then status = 'c' else status = 'w' end
end
return {'OK', f[1], slot, redis.call('HLEN', TOK), f[2], status, f[3] or ''}
`;

/** ARGV: P K slot node groupInfo address maxGroupInfoBytes maxGroupInfoBytesPerAddress */
const CREATE = `
use(ARGV[2])
local slot, node, gi, a = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if not mine(slot, node) then return {'NOT_IN_ROOM', 0} end
local f = redis.call('HMGET', RH, 'seq', 'epoch', 'creator', 'open', 'gi')
if (f[3] ~= slot and f[4] ~= '1') or f[5] then return {'NOT_CREATOR', f[1]} end
if not setGi(gi, a, tonumber(ARGV[7]), tonumber(ARGV[8])) then return {'OVER_BUDGET', f[1]} end
redis.call('HDEL', RH, 'creator', 'deadline')
redis.call('HSET', RH, 'open', 0)
redis.call('ZREM', P .. 'dl', K)
publish('S' .. f[1] .. ' ' .. f[2] .. ' r ' .. slot .. '\\n' .. gi)
return {'OK', f[1]}
`;

/**
 * ARGV: P K slot node epoch commit groupInfo address maxGroupInfoBytes maxGroupInfoBytesPerAddress
 * keepMs maxLogBytesPerRoom commitBurstPerAddress commitIntervalPerAddressMs. As rooms.ts: only a
 * commit that would be accepted takes the address's commit token.
 */
const COMMIT = `
use(ARGV[2])
local slot, node, epoch = ARGV[3], ARGV[4], ARGV[5]
local refused = refuseDelivery(slot, node, epoch)
if refused then return refused end
if ARGV[8] ~= '' and bucket(ARGV[8], 'cr', 'ct', tonumber(ARGV[13]), tonumber(ARGV[14]), 1) == 0 then
  return {'RATE_LIMITED', redis.call('HGET', RH, 'seq')}
end
if not setGi(ARGV[7], ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])) then return {'OVER_BUDGET', redis.call('HGET', RH, 'seq')} end
local seq = append(1, epoch, slot, ARGV[6], tonumber(ARGV[11]), tonumber(ARGV[12]))
redis.call('HSET', RH, 'epoch', tonumber(epoch) + 1)
return {'OK', seq}
`;

/** ARGV: P K slot node epoch data keepMs maxLogBytesPerRoom */
const APP = `
use(ARGV[2])
local slot, node, epoch = ARGV[3], ARGV[4], ARGV[5]
local refused = refuseDelivery(slot, node, epoch)
if refused then return refused end
return {'OK', append(2, epoch, slot, ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]))}
`;

/** ARGV: P K slot node to data maxLogBytesPerRoom */
const DIRECT = `
use(ARGV[2])
local slot, node, to, data = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if not mine(slot, node) then return {'NOT_IN_ROOM', 0} end
local f = redis.call('HMGET', RH, 'seq', 'gi', 'dropped', 'lb')
if not f[2] then return {'NO_GROUP', f[1]} end
if to == slot then return {'NO_SUCH_PEER', f[1]} end
local target = redis.call('HGET', LIVE, to)
if target then
  publish('X' .. f[1] .. ' ' .. to .. ' ' .. slot .. ' ' .. target .. '\\n' .. data)
  return {'OK', f[1]}
end
local away = redis.call('HGET', AWAY, to)
if not away or tonumber(string.match(away, ',(%d+)$')) < num(f[3]) then return {'NO_SUCH_PEER', f[1]} end
if num(f[4]) + #data > tonumber(ARGV[7]) then return {'OVER_BUDGET', f[1]} end
hold(to, slot, data, f[1])
return {'OK', f[1]}
`;

/** A DIRECT published for a live slot whose connection was already closing: held for it. ARGV: P K to from data maxLogBytesPerRoom */
const HOLD = `
use(ARGV[2])
local to, from, data = ARGV[3], ARGV[4], ARGV[5]
local f = redis.call('HMGET', RH, 'seq', 'gi', 'lb')
if not f[2] or not redis.call('HGET', TOK, to) or num(f[3]) + #data > tonumber(ARGV[6]) then return 0 end
hold(to, from, data, f[1])
return 1
`;

/** ARGV: P K slot node createTimeoutMs */
const LEAVE = `
use(ARGV[2])
local slot, node = ARGV[3], ARGV[4]
if not mine(slot, node) then return {'NOT_IN_ROOM', 0} end
local seq = redis.call('HGET', RH, 'seq')
redis.call('SREM', P .. 'n:' .. node, K .. '|' .. slot)
depart(slot, tonumber(ARGV[5]))
return {'OK', seq}
`;

/** The slot's connection is gone: away for resumeGraceMs (or gone, with no group). ARGV: P K slot node resumeGraceMs createTimeoutMs */
const DROP = `
use(ARGV[2])
local slot, node, grace = ARGV[3], ARGV[4], tonumber(ARGV[5])
if not mine(slot, node) then return 0 end
redis.call('SREM', P .. 'n:' .. node, K .. '|' .. slot)
goAway(slot, grace, tonumber(ARGV[6]))
return 1
`;

/**
 * ARGV: P K slot node tokenHash afterSeq address maxRoomsPerAddress. Returns the deliveries after
 * afterSeq (XRANGE) and the DIRECT frames held for the slot, which are let go.
 */
const RESUME = `
use(ARGV[2])
local slot, node, th, after, a = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local live = redis.call('HGET', LIVE, slot)
local away = redis.call('HGET', AWAY, slot)
local charged = (live or away) and redis.call('HGET', ADDR, slot) or false
if a ~= '' and a ~= charged and num(redis.call('HGET', P .. 'ad:' .. a, 'm')) >= tonumber(ARGV[8]) then return {'ADDRESS_LIMIT', 0} end
local f = redis.call('HMGET', RH, 'seq', 'epoch', 'gi', 'dropped')
if not f[3] or (not live and not away) then return {'CANNOT_RESUME', 0} end
if redis.call('HGET', TOK, slot) ~= th then return {'CANNOT_RESUME', 0} end
if after > num(f[1]) or after < num(f[4]) then return {'CANNOT_RESUME', 0} end
if live then
  publish('T' .. f[1] .. ' ' .. slot .. ' ' .. live .. ' ' .. node .. '\\n')
  redis.call('SREM', P .. 'n:' .. live, K .. '|' .. slot)
else
  redis.call('HDEL', AWAY, slot)
  redis.call('ZREM', P .. 'away', K .. '|' .. slot)
end
charge(charged, 'm', -1)
charge(a, 'm', 1)
redis.call('HSET', ADDR, slot, a)
redis.call('HSET', LIVE, slot, node)
redis.call('SADD', P .. 'n:' .. node, K .. '|' .. slot)
local entries = redis.call('XRANGE', LOG, (after + 1) .. '-0', '+')
local directs = redis.call('LRANGE', held(slot), 0, -1)
releaseHeld(slot)
return {'OK', f[1], f[2], entries, directs}
`;

/** A GROUP_STATE for a live slot (SYNC). ARGV: P K slot node */
const STATE = `
use(ARGV[2])
local slot, node = ARGV[3], ARGV[4]
if not mine(slot, node) then return {'NOT_IN_ROOM', 0} end
local f = redis.call('HMGET', RH, 'seq', 'epoch', 'gi', 'creator', 'open')
local status = 'r'
if not f[3] then
  if f[5] == '1' or f[4] == slot then status = 'c' else status = 'w' end
end
return {'OK', f[1], f[2], status, f[3] or ''}
`;

/**
 * Every node's sweep: away slots whose grace ended leave, creators that missed their deadline
 * open creation, and the slots of a node whose heartbeat stopped go away. A node stopping sweeps
 * a last time with alive 0: its heartbeat ends, and its own slots go away with it.
 * ARGV: P node heartbeatMs resumeGraceMs createTimeoutMs limit alive
 */
const SWEEP = `
local node, hb, grace, ctimeout, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if ARGV[7] == '1' then
  redis.call('SET', P .. 'hb:' .. node, 1, 'PX', hb)
  redis.call('SADD', P .. 'nodes', node)
else
  redis.call('DEL', P .. 'hb:' .. node)
end
local function split(m) return string.match(m, '^(.-)|(%d+)$') end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', P .. 'away', '-inf', NOW, 'LIMIT', 0, limit)) do
  local k, slot = split(m)
  use(k)
  redis.call('ZREM', P .. 'away', m)
  if redis.call('HGET', AWAY, slot) then depart(slot, ctimeout) end
end
for _, k in ipairs(redis.call('ZRANGEBYSCORE', P .. 'dl', '-inf', NOW, 'LIMIT', 0, limit)) do
  use(k)
  redis.call('ZREM', P .. 'dl', k)
  local f = redis.call('HMGET', RH, 'seq', 'epoch', 'gi', 'creator', 'open')
  if f[1] and not f[3] and f[5] ~= '1' then
    redis.call('HSET', RH, 'open', 1)
    publish('S' .. f[1] .. ' ' .. f[2] .. ' o ' .. (f[4] or 0) .. '\\n')
  end
end
local gone = {}
for _, n in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
  if redis.call('EXISTS', P .. 'hb:' .. n) == 0 then table.insert(gone, n) end
end
for _, n in ipairs(gone) do
  for _, m in ipairs(redis.call('SMEMBERS', P .. 'n:' .. n)) do
    local k, slot = split(m)
    use(k)
    if redis.call('HGET', LIVE, slot) == n then goAway(slot, grace, ctimeout) end
  end
  redis.call('DEL', P .. 'n:' .. n)
  redis.call('SREM', P .. 'nodes', n)
end
return #gone
`;

/**
 * WebSocket connections per address across nodes (`Pcn:<address>`: node -> its count). delta 1:
 * take one if all live nodes together hold fewer than max (a dead node's count is dropped), and
 * lease up to `want` tokens of the address's frame bucket (as FRAMES); -1 when refused. delta -1:
 * give one back. ARGV: P node address max delta frameBurst frameIntervalMs want
 */
const CONN = `
local key = P .. 'cn:' .. ARGV[3]
local node, max = ARGV[2], tonumber(ARGV[4])
if ARGV[5] == '-1' then
  if redis.call('HINCRBY', key, node, -1) <= 0 then redis.call('HDEL', key, node) end
  return 1
end
local total = 0
local all = redis.call('HGETALL', key)
for i = 1, #all, 2 do
  if all[i] == node or redis.call('EXISTS', P .. 'hb:' .. all[i]) == 1 then total = total + tonumber(all[i + 1])
  else redis.call('HDEL', key, all[i]) end
end
if total >= max then return -1 end
redis.call('HINCRBY', key, node, 1)
redis.call('EXPIRE', key, 86400)
return bucket(ARGV[3], 'fr', 'ft', tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
`;

/** Leases up to `want` tokens of the address's frame bucket to a node. ARGV: P address burst intervalMs want */
const FRAMES = `
return bucket(ARGV[2], 'fr', 'ft', tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
`;

export const roomScripts = { JOIN, CREATE, COMMIT, APP, DIRECT, HOLD, LEAVE, DROP, RESUME, STATE, SWEEP, CONN, FRAMES } as const;
export type RoomScript = keyof typeof roomScripts;

/** The script's full source: the shared prelude, then its body. */
export const scriptSource = (name: RoomScript): string => PRELUDE + roomScripts[name];
