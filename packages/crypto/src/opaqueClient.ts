/**
 * The client's side of OPAQUE (RFC 9807) through `@serenity-kit/opaque` (opaque-ke compiled to
 * WebAssembly; ristretto255, SHA-512, Argon2id key stretching with m = 64 MiB, t = 3, p = 4, the
 * library's "memory-constrained" profile): registration and login for accounts (docs/PROTOCOL.md
 * §11.2). The password stays here: what leaves is a blinded element, a record sealed under a key
 * only the password and the server's OPRF key give, and a MAC proving the login.
 *
 * A subpath of its own (`@nullroom/crypto/opaque`): OPAQUE's WebAssembly (430 KB) is loaded only
 * by code that signs in, never with the rooms.
 *
 * Each step is one object holding the library's state for the step after: nothing of it is
 * serialised or stored. Every message is base64url text, as the accounts API carries it.
 */
import * as opaque from '@serenity-kit/opaque';

export interface OpaqueRegistration {
  /** The registration request (a blinded element) for the server. */
  readonly request: string;
  /**
   * The record to upload, and the server's static public key (pin it: a server that answers with
   * another key is another server, or one whose setup changed).
   */
  finish(response: string): { record: string; serverKey: string };
}

export interface OpaqueLogin {
  readonly request: string;
  /**
   * The proof for the server, with its static public key; undefined when the password is wrong
   * (or the name has no account: the server's answer does not tell them apart).
   */
  finish(response: string): { proof: string; serverKey: string } | undefined;
}

/** Starts a registration (or a password change) with `password`. */
export async function opaqueRegistration(password: string): Promise<OpaqueRegistration> {
  await opaque.ready;
  const { clientRegistrationState, registrationRequest } = opaque.client.startRegistration({ password });
  return {
    request: registrationRequest,
    finish: (registrationResponse) => {
      const r = opaque.client.finishRegistration({ clientRegistrationState, registrationResponse, password });
      return { record: r.registrationRecord, serverKey: r.serverStaticPublicKey };
    },
  };
}

/** Starts a login with `password`. */
export async function opaqueLogin(password: string): Promise<OpaqueLogin> {
  await opaque.ready;
  const { clientLoginState, startLoginRequest } = opaque.client.startLogin({ password });
  return {
    request: startLoginRequest,
    finish: (loginResponse) => {
      const r = opaque.client.finishLogin({ clientLoginState, loginResponse, password });
      return r === undefined ? undefined : { proof: r.finishLoginRequest, serverKey: r.serverStaticPublicKey };
    },
  };
}
