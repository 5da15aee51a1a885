declare const brand: unique symbol;
/** A nominal type: a value of T that only our constructors produce. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** The opaque 32-byte name the relay routes a room by (derived from the room secret). */
export type RoomLocator = Brand<Uint8Array, 'RoomLocator'>;
/** The relay's number for one connection inside one room. */
export type Slot = Brand<number, 'Slot'>;
/** The relay's count of accepted commits in a room. */
export type RelayEpoch = Brand<number, 'RelayEpoch'>;
/** Position of a delivery in a room's ordered stream. */
export type Seq = Brand<number, 'Seq'>;
/** A request number chosen by the client, echoed in ACK and ERROR. 0 means "no request". */
export type ReqId = Brand<number, 'ReqId'>;

export const asSlot = (n: number) => n as Slot;
export const asEpoch = (n: number) => n as RelayEpoch;
export const asSeq = (n: number) => n as Seq;
export const asReqId = (n: number) => n as ReqId;
export const asLocator = (b: Uint8Array) => b as RoomLocator;

const HEX = Array.from({ length: 256 }, (_, x) => x.toString(16).padStart(2, '0'));
/**
 * Hex form of a locator, for use as a map key. Computed for every frame the relay routes: a table
 * lookup per byte (no closure, no array, no join), then flattened once, as a map lookup would.
 */
export const locatorKey = (l: RoomLocator): string => {
  let s = '';
  for (let i = 0; i < l.length; i++) s += HEX[l[i]!];
  return s;
};
