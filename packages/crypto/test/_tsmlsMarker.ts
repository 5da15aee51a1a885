/**
 * A child of hiddenMessage.test.ts: hands ts-mls's processMessage a message (hex, argv[3]) for a
 * room state (hex, argv[2], RoomGroup.exportState) and prints what became of it: `accepted`,
 * `refused`, or nothing at all if the process dies inside ts-mls.
 */
import * as mls from 'ts-mls';
import { decodeClientState, decodeMlsMessage } from '../src/mlsMessage.js';
import { suiteImpl } from '../src/suite.js';

const [state, message] = process.argv.slice(2).map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
const context = { cipherSuite: await suiteImpl(), authService: { validateCredential: async () => true } };
try {
  await mls.processMessage({
    context,
    state: decodeClientState(state!)!,
    message: decodeMlsMessage(message!, [mls.wireformats.mls_private_message])!,
    callback: () => 'accept',
  });
  process.stdout.write('accepted\n');
} catch {
  process.stdout.write('refused\n');
}
