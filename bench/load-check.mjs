// The correctness check of bench/load.mjs, a pure function of what the load workers report: every
// message the relay ACKed must reach every other member of its room exactly once and in order
// (per sender, by the counter in its payload), and nothing else may arrive.
//   senders: [id, sent, acked, refused] per client; pairs: [receiver, sender, distinct, dup, reordered]
//   per (receiver, sender) that saw at least one delivery (flat Int32Arrays, as the workers send them).
import { layout } from './load-layout.mjs';

/**
 * Returns {lost, duplicated, reordered, unacked, refused, expectedDeliveries, deliveries, ok}:
 *  - lost: deliveries of ACKed messages that never arrived (acked - distinct, per receiver and sender);
 *  - duplicated: a counter seen again; reordered: a counter that arrived after a later one;
 *  - unacked: distinct counters beyond what the sender had ACKed (a delivery whose message was not
 *    acknowledged: after the drain, every message sent was ACKed or refused);
 *  - refused: APP frames the relay answered with ERROR (the run was misconfigured: rate limits).
 * The per-room `seq` order and deliveries from outside a room are checked by the workers themselves.
 */
export function check(cfg, reports) {
  const clients = layout(cfg);
  const acked = new Int32Array(cfg.clients);
  let refused = 0;
  for (const r of reports) {
    for (let i = 0; i < r.senders.length; i += 4) {
      acked[r.senders[i]] = r.senders[i + 2];
      refused += r.senders[i + 3];
    }
  }
  const seen = new Map(); // receiver * clients + sender -> distinct
  let duplicated = 0;
  let reordered = 0;
  let deliveries = 0;
  for (const r of reports) {
    for (let i = 0; i < r.pairs.length; i += 5) {
      const [receiver, sender, distinct, dup, re] = r.pairs.subarray(i, i + 5);
      seen.set(receiver * cfg.clients + sender, distinct);
      duplicated += dup;
      reordered += re;
      deliveries += distinct + dup;
    }
  }
  let lost = 0;
  let unacked = 0;
  let expectedDeliveries = 0;
  const byRoom = new Map();
  for (const c of clients) {
    if (!byRoom.has(c.room)) byRoom.set(c.room, []);
    byRoom.get(c.room).push(c.id);
  }
  for (const members of byRoom.values()) {
    for (const s of members) {
      for (const r of members) {
        if (r === s) continue;
        const distinct = seen.get(r * cfg.clients + s) ?? 0;
        expectedDeliveries += acked[s];
        if (distinct < acked[s]) lost += acked[s] - distinct;
        else unacked += distinct - acked[s];
      }
    }
  }
  const ok = lost === 0 && duplicated === 0 && reordered === 0 && unacked === 0 && refused === 0;
  return { ok, lost, duplicated, reordered, unacked, refused, expectedDeliveries, deliveries };
}
