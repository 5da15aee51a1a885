/**
 * Who a request comes from, for the per-address caps (docs/PROTOCOL.md §4.1): the socket's remote
 * address, or with `trustProxy` the hop the reverse proxy appended to X-Forwarded-For. IPv6
 * addresses are grouped by their /64 (one subscriber usually holds a whole /64), IPv4-mapped IPv6
 * addresses count as the IPv4 address they carry.
 */
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** localhost, 127.0.0.0/8 or ::1 (brackets allowed): the only hosts plain HTTP may bind to or be reached as. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * The client's address. With `trustProxy`, the last X-Forwarded-For entry: the one the proxy in
 * front of us appended (anything to its left was sent by the client and proves nothing). Without
 * it, or when that entry is not an IP address, the socket's peer.
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  const remote = req.socket.remoteAddress ?? '';
  if (!trustProxy) return remote;
  const xff = req.headers['x-forwarded-for'];
  if (typeof xff !== 'string') return remote;
  const last = xff.slice(xff.lastIndexOf(',') + 1).trim();
  return isIP(last) !== 0 ? last : remote;
}

/** Where Node keeps a socket's peer address once read (net.Socket; a TLS socket's `_parent` is its TCP socket). */
interface PeerNameCache {
  _peername?: unknown;
  _parent?: PeerNameCache | null;
}

/**
 * Lets go of the peer address Node keeps on a socket once it was read (for the caps, at accept and
 * upgrade): an object and its string, ~90 bytes a WebSocket would hold for its whole life. Reading
 * remoteAddress again asks the OS again. Set to undefined, not deleted, so the socket keeps its shape.
 */
export function forgetPeerAddress(socket: object): void {
  const s = socket as PeerNameCache;
  if (s._peername !== undefined) s._peername = undefined;
  if (s._parent?._peername !== undefined) s._parent._peername = undefined;
}

/** The key the caps count by: the IPv4 address, or the IPv6 /64 ("2001:db8:0:1::/64"). */
export function addressKey(addr: string): string {
  const a = addr.split('%')[0]!.toLowerCase();
  const kind = isIP(a);
  if (kind === 4) return a;
  if (kind !== 6) return a === '' ? '?' : `?${a.slice(0, 64)}`;
  const groups = expand6(a);
  if (groups === undefined) return `?${a}`;
  // ::ffff:a.b.c.d, an IPv4 client on a dual-stack socket.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >>> 8}.${groups[6]! & 0xff}.${groups[7]! >>> 8}.${groups[7]! & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (isIP already said it is one). */
function expand6(a: string): number[] | undefined {
  let s = a;
  const tail: number[] = [];
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4 !== null) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    tail.push((b0 << 8) | b1, (b2 << 8) | b3);
    s = s.slice(0, v4.index);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string) => (h === '' ? [] : h.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - tail.length - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const out = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
  return out.length === 8 && out.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? out : undefined;
}
