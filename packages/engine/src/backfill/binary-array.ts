// A batch's row ids and row versions as bigint[] and xid[] parameters in PostgreSQL's binary array
// format (array_recv): node-pg sends a Buffer parameter as binary, so the statement must type it
// (`$1::bigint[]`). PostgreSQL reads a binary element in a fraction of what array_in spends on its
// text, and nothing here has to be quoted or checked for injection: the values are numbers.

const INT8_OID = 20;
const XID_OID = 28;
/** ndim, flags (no NULLs), element type, then one dimension: its length and lower bound. */
export const BINARY_ARRAY_HEADER = 20;
const TWO_32 = 2 ** 32;

/**
 * A one-dimensional binary array of `count` elements of type `oid`, each `width` bytes (after its
 * int32 length), with its header written and room for the elements from BINARY_ARRAY_HEADER on.
 */
export function binaryArray(count: number, oid: number, width: number): Buffer {
  if (count === 0) {
    const empty = Buffer.alloc(12); // ndim 0
    empty.writeInt32BE(oid, 8);
    return empty;
  }
  const out = Buffer.allocUnsafe(BINARY_ARRAY_HEADER + count * (4 + width));
  out.writeInt32BE(1, 0);
  out.writeInt32BE(0, 4);
  out.writeInt32BE(oid, 8);
  out.writeInt32BE(count, 12);
  out.writeInt32BE(1, 16);
  return out;
}

/** A whole number given as decimal text (as pg returns int8 and xid): exactly, or a TypeError. */
function wholeNumber(text: string): number | bigint {
  const n = Number(text);
  if (Number.isSafeInteger(n) && text === '' + n) return n;
  if (!/^-?\d+$/.test(text)) throw new TypeError(`not a whole number: ${text}`);
  return BigInt(text);
}

/** `ids` (int8 as decimal text) as a binary bigint[]. */
export function int8ArrayParam(ids: readonly string[]): Buffer {
  const out = binaryArray(ids.length, INT8_OID, 8);
  let at = BINARY_ARRAY_HEADER;
  for (const text of ids) {
    out.writeInt32BE(8, at);
    const v = wholeNumber(text);
    if (typeof v === 'number') {
      // Two's complement halves of a safe integer: the high word floors (so -1 is 0xffffffff_ffffffff).
      out.writeInt32BE(Math.floor(v / TWO_32), at + 4);
      out.writeUInt32BE(v >>> 0, at + 8);
    } else {
      out.writeBigInt64BE(v, at + 4); // a RangeError beyond int8, as PostgreSQL would refuse it
    }
    at += 12;
  }
  return out;
}

/** `xmins` (xid as decimal text) as a binary xid[]. */
export function xidArrayParam(xmins: readonly string[]): Buffer {
  const out = binaryArray(xmins.length, XID_OID, 4);
  let at = BINARY_ARRAY_HEADER;
  for (const text of xmins) {
    const v = wholeNumber(text);
    if (typeof v !== 'number' || v < 0 || v >= TWO_32) throw new TypeError(`not an xid: ${text}`);
    out.writeInt32BE(4, at);
    out.writeUInt32BE(v, at + 4);
    at += 8;
  }
  return out;
}
