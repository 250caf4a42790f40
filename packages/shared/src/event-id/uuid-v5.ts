// RFC 4122 / RFC 9562 name-based UUID, version 5: SHA-1 over (namespace bytes ‖ UTF-8 name bytes), version
// nibble set to 5, variant bits set to 10. Only node:crypto; no allocation of the input beyond one scratch buffer.

import * as crypto from 'node:crypto';
import { isWellFormed } from './canonical-json.js';
import { utf8Write } from './utf8.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a hyphenated 8-4-4-4-12 hex UUID in any letter case. */
export function isUuid(s: string): boolean {
  return s.length === 36 && UUID.test(s);
}

/** The 16 bytes of a hyphenated UUID string. Throws TypeError if it is not one. */
export function parseUuid(uuid: string): Uint8Array {
  if (typeof uuid !== 'string' || !isUuid(uuid)) throw new TypeError(`not a UUID: ${String(uuid)}`);
  return Uint8Array.from(Buffer.from(uuid.replace(/-/g, ''), 'hex'));
}

// crypto.hash (Node >= 20.12, one call, no Hash object) measured ~2x faster than createHash for ~300-byte
// inputs; createHash stays as the fallback for older runtimes.
type HashFn = (data: Uint8Array) => string;
type DigestEncoding = 'hex' | 'binary';
const oneShot = (
  crypto as unknown as { hash?: (alg: string, data: Uint8Array, enc: DigestEncoding) => string }
).hash;
/** SHA-1 of the bytes as a string in `enc`: one call where the runtime has crypto.hash. */
const sha1As = (enc: DigestEncoding): HashFn =>
  typeof oneShot === 'function'
    ? (data) => oneShot('sha1', data, enc)
    : (data) => crypto.createHash('sha1').update(data).digest(enc);
const sha1Hex = sha1As('hex');

// '0'..'9' -> 48..57, 'a'..'f' -> 97..102; the variant nibble keeps its low two bits and gets 10 on top.
const VARIANT: string[] = [];
for (let n = 0; n < 16; n++) VARIANT['0123456789abcdef'.charCodeAt(n)] = '89ab'[n & 3]!;

/** SHA-1 hex digest (40 chars) -> UUID v5 string (36 chars, lowercase). */
function formatV5(h: string): string {
  return (
    h.slice(0, 8) +
    '-' +
    h.slice(8, 12) +
    '-5' +
    h.slice(13, 16) +
    '-' +
    VARIANT[h.charCodeAt(16)]! +
    h.slice(17, 20) +
    '-' +
    h.slice(20, 32)
  );
}

// One reusable buffer holds namespace ‖ name. Names up to KEEP_LIMIT bytes reuse it; bigger ones get a
// one-off buffer so a single huge row does not pin memory for the life of the worker.
const KEEP_LIMIT = 1 << 20;
let scratch = Buffer.allocUnsafeSlow(16 * 1024);
let scratchNamespace: Uint8Array | undefined;

/** UUID v5 of `name` (assumed well-formed Unicode) in the namespace given as 16 bytes. */
export function uuidV5FromBytes(name: string, namespace: Uint8Array): string {
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes, so this bound makes Buffer#write never truncate.
  const maxBytes = 16 + name.length * 3;
  let buf = scratch;
  if (maxBytes > buf.length) {
    if (maxBytes <= KEEP_LIMIT) {
      scratch = buf = Buffer.allocUnsafeSlow(Math.min(KEEP_LIMIT, Math.max(maxBytes, buf.length * 2)));
      scratchNamespace = undefined;
    } else {
      buf = Buffer.allocUnsafeSlow(16 + Buffer.byteLength(name, 'utf8'));
      buf.set(namespace, 0);
    }
  }
  if (buf === scratch && scratchNamespace !== namespace) {
    buf.set(namespace, 0);
    scratchNamespace = namespace;
  }
  const length = 16 + utf8Write(buf, name, 16);
  return formatV5(sha1Hex(new Uint8Array(buf.buffer, buf.byteOffset, length)));
}

/** UUID v5 of bytes that are already namespace ‖ UTF-8 name. */
export function uuidV5OfBytes(namespaceAndName: Uint8Array): string {
  return formatV5(sha1Hex(namespaceAndName));
}

// The digest as a latin1 string (one character per byte), not as a Buffer: a Buffer result costs a
// Buffer's allocation, measured at 2-3 times the whole one-shot hash of a ~300-byte name.
const sha1Latin1 = sha1As('binary');

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Writes the UUID v5 of bytes that are already namespace ‖ UTF-8 name into `target` at `offset`, as
 * its 36 ASCII characters (lowercase, hyphenated): the text uuidV5OfBytes returns, with no string made.
 */
export function writeUuidV5OfBytes(namespaceAndName: Uint8Array, target: Uint8Array, offset: number): void {
  const h = sha1Latin1(namespaceAndName);
  let p = offset;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) target[p++] = 0x2d;
    let b = h.charCodeAt(i);
    if (i === 6)
      b = (b & 0x0f) | 0x50; // version 5
    else if (i === 8) b = (b & 0x3f) | 0x80; // variant 10
    target[p++] = HEX_DIGITS[b >> 4]!;
    target[p++] = HEX_DIGITS[b & 15]!;
  }
}

// null until the first call: no string can match it, so even '' is parsed (and refused) the first time.
let lastNamespace: string | null = null;
let lastNamespaceBytes: Uint8Array = new Uint8Array(16);

/**
 * UUID v5 (lowercase, hyphenated) of the UTF-8 bytes of `name` in `namespace`.
 * Throws TypeError if `namespace` is not a UUID or `name` is not well-formed Unicode (has a lone surrogate),
 * since such a name has no UTF-8 encoding.
 */
export function uuidV5(name: string, namespace: string): string {
  if (typeof name !== 'string') throw new TypeError('uuidV5: name must be a string');
  if (!isWellFormed(name)) throw new TypeError('uuidV5: name has a lone surrogate (not valid Unicode)');
  if (namespace !== lastNamespace) {
    lastNamespaceBytes = parseUuid(namespace);
    lastNamespace = namespace;
  }
  return uuidV5FromBytes(name, lastNamespaceBytes);
}
