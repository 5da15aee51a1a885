// Who is where in bench/load.mjs: the same pure function in the coordinator and in every load worker,
// so that nobody has to send the layout around. Clients are numbered 0..n-1 and packed into rooms in
// blocks of consecutive numbers (a room of 10 is clients k..k+9). Then, by number:
//  - relay URL: client i uses urls[i % urls.length]: the members of a room alternate between the
//    relay nodes given, so that a room's traffic crosses nodes (when there are several);
//  - load worker: i % workers: a room's members sit in different processes, so that a latency is
//    measured from one process's send to another's receive (process.hrtime is the system-wide
//    monotonic clock on Linux: CLOCK_MONOTONIC, the same in every process);
//  - source address: PER_ADDRESS consecutive clients share one loopback address 127.1.x.y. The
//    relay's per-address caps (packages/server/src/limits.ts) then hold at their defaults: each
//    client belongs to one room, so an address creates at most PER_ADDRESS room records
//    (newRoomBurst 20) and holds PER_ADDRESS connections (maxConnectionsPerAddress 256).

/** Clients per source address: at most newRoomBurst (20), so that no JOIN meets TOO_MANY_NEW_ROOMS. */
export const PER_ADDRESS = 20;

/**
 * Parses a room mix, "2:50,10:30,100:20": room size, then the percentage of the clients in rooms of
 * that size. Percentages are normalised (they need not add up to 100).
 */
export function parseMix(s) {
  const parts = s.split(',').map((p) => p.trim().split(':').map(Number));
  for (const [size, share] of parts) {
    if (!Number.isInteger(size) || size < 2 || !(share > 0)) throw new Error(`bad room mix "${s}": want size:percent,... with sizes >= 2`);
  }
  const total = parts.reduce((a, [, share]) => a + share, 0);
  return parts.map(([size, share]) => ({ size, share: share / total }));
}

/** The loopback source address of the a-th group of clients: 127.1.0.2, ... 127.1.0.251, 127.1.1.2, ... */
export const sourceAddress = (a) => `127.1.${Math.floor(a / 250)}.${2 + (a % 250)}`;

/**
 * The rooms: [{index, first, size}] covering clients 0..n-1. Each size gets its share of the
 * clients, in whole rooms (the last size takes what is left; a remainder smaller than a room of
 * the last size makes one smaller room, at least 2). The rooms of each size are spread evenly
 * over the numbers, so that every worker, URL and address range sees every size.
 */
export function rooms(n, mix) {
  const counts = mix.map(({ size, share }) => Math.floor((n * share) / size));
  let used = counts.reduce((a, c, i) => a + c * mix[i].size, 0);
  // Room j of the c rooms of one size sits at (j + 0.5) / c of the way: every size spread evenly.
  const placed = [];
  counts.forEach((c, k) => {
    for (let j = 0; j < c; j++) placed.push({ at: (j + 0.5) / c, k, size: mix[k].size });
  });
  placed.sort((a, b) => a.at - b.at || a.k - b.k);
  const out = placed.map((p) => p.size);
  // The rest: rooms of 2 (and a single leftover client joins the last room of 2, making it 3).
  while (n - used >= 2) {
    out.push(2);
    used += 2;
  }
  if (n - used === 1) {
    if (out.length === 0) throw new Error('need at least 2 clients');
    out[out.length - 1]++;
  }
  let first = 0;
  return out.map((size, index) => {
    const r = { index, first, size };
    first += size;
    return r;
  });
}

/** The room locator of room `index`: 32 bytes, the index in the first 4 and a run tag in the next 4. */
export function locator(index, tag) {
  const l = new Uint8Array(32);
  const v = new DataView(l.buffer);
  v.setUint32(0, index);
  v.setUint32(4, tag);
  return l;
}

/**
 * The order in which a worker's clients take turns to send: a fixed shuffle (mulberry32, seeded), so
 * that the members of a large room do not all send within the same instant of each round.
 */
export function shuffled(items, seed = 0x9e3779b9) {
  const a = items.slice();
  let t = seed >>> 0;
  const random = () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 2 ** 32;
  };
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Every client: {id, room, roomSize, url, address, worker}. */
export function layout({ clients, mix, urls, workers }) {
  const all = [];
  for (const r of rooms(clients, mix)) {
    for (let i = r.first; i < r.first + r.size; i++) {
      all.push({
        id: i,
        room: r.index,
        roomSize: r.size,
        url: urls[i % urls.length],
        address: sourceAddress(Math.floor(i / PER_ADDRESS)),
        worker: i % workers,
      });
    }
  }
  return all;
}
