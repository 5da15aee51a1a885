/**
 * Everything the accounts keep outside their store (accountShared.ts) in one relay's memory: what a
 * relay without a cluster uses (relay nodes use cluster/accountShared.ts's Redis instead).
 */
import { AccountTickets } from '../accountTickets.js';
import type { AccountShared } from './accountShared.js';
import { DeviceRequests } from './deviceApproval.js';
import { BindChallenges } from './deviceBinding.js';
import { LocalAccountBus } from './localAccountBus.js';
import { MemoryBuckets, MemoryPendingLogins } from './loginGate.js';

export function localShared(): AccountShared {
  return {
    buckets: new MemoryBuckets(),
    logins: new MemoryPendingLogins(),
    challenges: new BindChallenges(),
    requests: new DeviceRequests(),
    tickets: new AccountTickets(),
    bus: new LocalAccountBus(),
    close: async () => undefined,
  };
}
