/**
 * Additive secret sharing over Z_(2^64) with PRG-compressed shares.
 *
 * An input vector x is split for m aggregators as x = s_1 + ... + s_m (mod 2^64):
 * s_1, ..., s_(m-1) are expanded from fresh 32-byte seeds, and s_m = x - sum of the
 * others travels in full. Any m - 1 shares are uniformly random and independent of x.
 *
 * PRG: AES-256-CTR (node:crypto) over zero bytes, key = OKM[0..32), IV = OKM[32..48),
 * OKM = HKDF-SHA256(IKM = seed, salt = empty, info, L = 48), and the stream read as
 * little-endian 64-bit words. The info (`expandSeed`) is
 *
 *   UTF-8("koppel/aggregate/v1/prg") || lp(round) || lp(codebook hash) || lp(party) ||
 *   u16(aggregator)
 *
 * with no separator after the label, lp(s) = u16(byte length of UTF-8(s)) || UTF-8(s)
 * (the codebook hash is its text, as UTF-8), and u16 two bytes big-endian. The info binds
 * the expansion to the round, the codebook, the input party and the aggregator, so one
 * seed can never be replayed into another context.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { randomBytes } from '../util/bytes.js';
import { prgAddInto, prgStream, SEED_BYTES } from '../util/prg.js';
import { addInto, subInto } from './ring.js';

export { SEED_BYTES };

/** Where a share belongs: the round, codebook, input party and aggregator. */
export interface ShareContext {
  readonly round: string;
  readonly codebookHash: string;
  readonly party: string;
  readonly aggregator: number;
}

/** One aggregator's share: a seed, or the full vector. */
export type Share = { readonly kind: 'seed'; readonly seed: Uint8Array } | { readonly kind: 'vector'; readonly vector: BigUint64Array };

const encoder = new TextEncoder();
const PRG_LABEL = encoder.encode('koppel/aggregate/v1/prg');

const tooLong = (): KoppelError => new KoppelError('INVALID_ARGUMENT', 'A share context field is too long.');

/**
 * The PRG's info for a context (see the module's description), written in one pass into
 * one buffer: each field's UTF-8 goes straight after its two length bytes (a UTF-16
 * code unit is at most 3 UTF-8 bytes, which sizes the buffer).
 */
function prgInfo(ctx: ShareContext): Uint8Array {
  const fields = [ctx.round, ctx.codebookHash, ctx.party];
  let most = PRG_LABEL.length + 2;
  for (const f of fields) {
    // UTF-8 is at least one byte per UTF-16 code unit: a longer string is too long already.
    if (f.length > 65535) throw tooLong();
    most += 2 + 3 * f.length;
  }
  const out = new Uint8Array(most);
  out.set(PRG_LABEL);
  let at = PRG_LABEL.length;
  for (const f of fields) {
    const { written } = encoder.encodeInto(f, out.subarray(at + 2));
    if (written > 65535) throw tooLong();
    out[at] = written >>> 8;
    out[at + 1] = written & 0xff;
    at += 2 + written;
  }
  out[at++] = ctx.aggregator >>> 8;
  out[at++] = ctx.aggregator & 0xff;
  return out.subarray(0, at);
}

/** The PRG expansion of a seed into `length` words for a context. */
export function expandSeed(seed: Uint8Array, length: number, ctx: ShareContext): BigUint64Array {
  if (seed.length !== SEED_BYTES) throw new KoppelError('MESSAGE_MALFORMED', 'A share seed must be 32 bytes.');
  return prgStream(seed, prgInfo(ctx))(length);
}

/**
 * target += sign * (the vector a share stands for), modulo 2^64: a seed's expansion is
 * added as it is made, never held in full (the same words as {@link expandSeed}).
 *
 * @throws KoppelError `MESSAGE_MALFORMED` for a seed that is not 32 bytes or a vector of
 *   another length than `target`
 */
export function addShareInto(target: BigUint64Array, share: Share, ctx: ShareContext, sign: 1 | -1): void {
  if (share.kind === 'seed') {
    prgAddInto(share.seed, prgInfo(ctx), target, sign);
    return;
  }
  const v = shareVector(share, target.length, ctx);
  if (sign === 1) addInto(target, v);
  else subInto(target, v);
}

/**
 * Splits `x` into `m` shares for aggregators 0..m-1: seeds for the first m - 1, the
 * full remainder for the last.
 */
export function split(x: BigUint64Array, m: number, ctx: Omit<ShareContext, 'aggregator'>): Share[] {
  if (!Number.isInteger(m) || m < 2 || m > 64) throw new KoppelError('INVALID_ARGUMENT', 'The number of aggregators must be 2 to 64.');
  const last = new BigUint64Array(x);
  const shares: Share[] = [];
  for (let j = 0; j < m - 1; j++) {
    const seed = randomBytes(SEED_BYTES);
    prgAddInto(seed, prgInfo({ ...ctx, aggregator: j }), last, -1);
    shares.push({ kind: 'seed', seed });
  }
  shares.push({ kind: 'vector', vector: last });
  return shares;
}

/** The vector a share stands for. */
export function shareVector(share: Share, length: number, ctx: ShareContext): BigUint64Array {
  if (share.kind === 'seed') return expandSeed(share.seed, length, ctx);
  if (share.vector.length !== length)
    throw new KoppelError('MESSAGE_MALFORMED', "A share vector does not have the codebook's length.", {
      details: { length: share.vector.length, expected: length },
    });
  return share.vector;
}
