/**
 * An insider's raw relay connection to one room (it holds the room secret, so it may send whatever
 * it likes): its slot, the relay's frames, and hand-built requests. Shared by the hostile-member
 * tests here and the web disruption tests (apps/web/test/web-disruption.test.ts).
 */
import WebSocket from 'ws';
import {
  type ClientFrame,
  type GroupStateFrame,
  type RelayFrame,
  type ReqId,
  type RoomLocator,
  SUBPROTOCOL,
  asEpoch,
  asReqId,
  decodeRelayFrame,
  encodeFrame,
} from '@nullroom/protocol';
import { until as untilDefault } from './_harness.js';

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** `waitMs`: how long each wait for the relay's answer may take. */
export async function insider(url: string, room: RoomLocator, waitMs = 10_000) {
  const until = (ok: () => boolean, what: string) => untilDefault(ok, what, waitMs);
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, SUBPROTOCOL, { perMessageDeflate: false });
  const frames: RelayFrame[] = [];
  ws.on('message', (data: Buffer) => frames.push(decodeRelayFrame(new Uint8Array(data))));
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
  let reqId = 1;
  ws.send(encodeFrame({ type: 'JOIN', reqId: asReqId(reqId++), room }));
  await until(() => frames.some((f) => f.type === 'GROUP_STATE'), 'the insider gets the group state');
  const joined = frames.find((f) => f.type === 'JOINED');
  const state = () => frames.filter((f): f is GroupStateFrame => f.type === 'GROUP_STATE').at(-1)!;
  /** Sends the request built with the next reqId; resolves with the relay's answer to it (ACK or ERROR). */
  async function request(what: string, frame: (id: ReqId) => ClientFrame): Promise<'ACK' | 'ERROR'> {
    const id = reqId++;
    ws.send(encodeFrame(frame(asReqId(id))));
    const answer = () => frames.find((f) => (f.type === 'ACK' || f.type === 'ERROR') && f.reqId === id);
    await until(() => answer() !== undefined, `the relay answers the ${what}`);
    return answer()!.type as 'ACK' | 'ERROR';
  }
  return {
    slot: joined!.type === 'JOINED' ? joined!.slot : -1,
    state,
    /** Sends COMMIT for the relay's current epoch; resolves with the relay's answer. */
    commit: (commit: Uint8Array, groupInfo: Uint8Array, epoch: number = state().epoch) =>
      request('commit', (id) => ({ type: 'COMMIT', reqId: id, room, epoch: asEpoch(epoch), commit, groupInfo })),
    /** Sends CREATE (only the room's first connection may); resolves with the relay's answer. */
    create: (groupInfo: Uint8Array) => request('create', (id) => ({ type: 'CREATE', reqId: id, room, groupInfo })),
    /** A garbage commit at the relay's current epoch, again if a member's commit won the race. */
    async garbage(): Promise<void> {
      for (let i = 0; i < 10; i++) if ((await this.commit(random(300), random(300), (await this.sync()).epoch)) === 'ACK') return;
      throw new Error('the relay never accepted the garbage commit');
    },
    /** Asks for the current group state again. */
    async sync(): Promise<GroupStateFrame> {
      const n = frames.length;
      ws.send(encodeFrame({ type: 'SYNC', reqId: asReqId(reqId++), room }));
      await until(() => frames.slice(n).some((f) => f.type === 'GROUP_STATE'), 'GROUP_STATE');
      return state();
    },
    close: () => ws.close(),
  };
}
export type Insider = Awaited<ReturnType<typeof insider>>;
