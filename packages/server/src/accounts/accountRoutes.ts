/**
 * The accounts API's endpoints (docs/PROTOCOL.md §11.4, §11.6, §11.8, §11.10): each path, the one
 * method it takes, and the handler of accountsHttp.ts (or its device and contact parts) that answers.
 * Which sessions each takes (bound to a device or not) is said by the handler itself (`Needs`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccountsHttp, AccountsRequest } from './accountsHttp.js';
import { blobTicket } from './blobTicketHttp.js';

type Route = {
  method: 'GET' | 'POST';
  run: (a: AccountsHttp, req: IncomingMessage, res: ServerResponse, r: AccountsRequest) => Promise<void>;
};
export const ROUTES: Readonly<Record<string, Route>> = {
  '/api/register/start': { method: 'POST', run: (a, q, s, r) => a.registerStart(q, s, r) },
  '/api/register/finish': { method: 'POST', run: (a, q, s, r) => a.registerFinish(q, s, r) },
  '/api/login/start': { method: 'POST', run: (a, q, s, r) => a.loginStart(q, s, r) },
  '/api/login/finish': { method: 'POST', run: (a, q, s) => a.loginFinish(q, s) },
  '/api/session': { method: 'GET', run: (a, q, s) => a.whoami(q, s) },
  '/api/logout': { method: 'POST', run: (a, q, s, r) => a.logout(q, s, r) },
  '/api/logout-all': { method: 'POST', run: (a, q, s, r) => a.logoutAll(q, s, r) },
  '/api/password/start': { method: 'POST', run: (a, q, s, r) => a.passwordStart(q, s, r) },
  '/api/password/finish': { method: 'POST', run: (a, q, s, r) => a.passwordFinish(q, s, r) },
  '/api/account/delete': { method: 'POST', run: (a, q, s, r) => a.deleteAccount(q, s, r) },
  '/api/devices': { method: 'GET', run: (a, q, s, r) => a.devices.list(q, s, r) },
  '/api/devices/add': { method: 'POST', run: (a, q, s, r) => a.devices.add(q, s, r) },
  '/api/devices/remove': { method: 'POST', run: (a, q, s, r) => a.devices.remove(q, s, r) },
  '/api/devices/list': { method: 'POST', run: (a, q, s, r) => a.devices.deviceList(q, s, r) },
  '/api/devices/request': { method: 'POST', run: (a, q, s, r) => a.devices.ask(q, s, r) },
  '/api/devices/requests': { method: 'GET', run: (a, q, s, r) => a.devices.pending(q, s, r) },
  '/api/devices/request/status': { method: 'POST', run: (a, q, s, r) => a.devices.status(q, s, r) },
  '/api/devices/bind/start': { method: 'POST', run: (a, q, s, r) => a.bindStart(q, s, r) },
  '/api/devices/bind': { method: 'POST', run: (a, q, s, r) => a.bind(q, s, r) },
  '/api/devices/approve': { method: 'POST', run: (a, q, s, r) => a.devices.approve(q, s, r) },
  '/api/devices/decline': { method: 'POST', run: (a, q, s, r) => a.devices.decline(q, s, r) },
  '/api/key-packages': { method: 'POST', run: (a, q, s, r) => a.devices.upload(q, s, r) },
  '/api/key-packages/claim': { method: 'POST', run: (a, q, s, r) => a.devices.claim(q, s, r) },
  '/api/blobs/ticket': { method: 'POST', run: (a, q, s, r) => blobTicket(a, q, s, r) },
  '/api/contacts': { method: 'GET', run: (a, q, s, r) => a.contacts.list(q, s, r) },
  ...Object.fromEntries(
    (['request', 'accept', 'decline', 'block', 'unblock', 'remove'] as const).map((action): [string, Route] => [
      `/api/contacts/${action}`,
      { method: 'POST', run: (a, q, s, r) => a.contacts.change(action, q, s, r) },
    ]),
  ),
};
