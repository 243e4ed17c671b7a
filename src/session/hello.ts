/**
 * The HELLO check every protocol shares: the peer must speak the same protocol and
 * version, play the other role, and agree on every shared parameter. A mismatch is a
 * typed error that names the field and both values, raised at the first message, before
 * any data is exchanged.
 *
 * @packageDocumentation
 */
import { KoppelError, type KoppelErrorCode } from '../errors/index.js';
import { t } from '../util/cjs.js';
import { intRange } from '../wire/codec.js';
import type { ProtocolSpec } from './link.js';

/** The fields every HELLO carries. */
export interface HelloBase {
  /** The protocol's HELLO name, e.g. `koppel-psi`. */
  readonly protocol: string;
  /** The protocol version. */
  readonly version: number;
  /** The sender's role, e.g. `client`. */
  readonly role: string;
}

/**
 * A parameter both sides must share, compared field by field. Values of shared
 * parameters are protocol settings (a mode, a suite, a hash), never personal data, so
 * the error may name them.
 */
export interface SharedParam {
  /** The HELLO field. */
  readonly field: string;
  /** The error code of a mismatch, e.g. `SUITE_MISMATCH`. */
  readonly code: KoppelErrorCode;
  /** What the user aligns on both sides, e.g. `--suite`. */
  readonly flag?: string;
}

/** What {@link checkHello} compares. */
export interface HelloExpectation {
  /** The role (or roles) the peer may play. */
  readonly peerRole: string | readonly string[];
  /** Said when the peer plays a role it may not (e.g. both sides are clients). */
  readonly roleMessage?: string;
  /** The parameters both sides must share, checked in this order. */
  readonly shared?: readonly SharedParam[];
}

/** A short, printable rendering of a parameter value for messages (at most 64 characters). */
function show(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? 'nothing');
  return s.length > 64 ? `${s.slice(0, 61)}...` : s;
}

/** Value equality of two decoded JSON values (shared parameters are JSON). */
function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Checks the peer's HELLO against ours.
 *
 * @throws KoppelError `VERSION_MISMATCH` (another protocol version),
 *   `PROTOCOL_VIOLATION` (a role the peer may not play), or the shared parameter's own
 *   code (e.g. `SUITE_MISMATCH`), with `details.field`, `details.ours` and
 *   `details.theirs`
 */
export function checkHello(
  spec: ProtocolSpec,
  ours: Readonly<Record<string, unknown>>,
  theirs: HelloBase & Readonly<Record<string, unknown>>,
  expect: HelloExpectation,
): void {
  const roles: readonly string[] = typeof expect.peerRole === 'string' ? [expect.peerRole] : expect.peerRole;
  if (!roles.includes(theirs.role)) {
    throw new KoppelError(
      'PROTOCOL_VIOLATION',
      expect.roleMessage ?? `The peer plays the role ${show(theirs.role)}; this side expects ${roles.join(' or ')}.`,
      { details: { field: 'role' } },
    );
  }
  if (theirs.version !== spec.version) {
    throw new KoppelError(
      'VERSION_MISMATCH',
      `The peer speaks ${spec.name} version ${theirs.version}; this koppel speaks ${spec.version}. Use the same koppel version on both sides.`,
      {
        details: { field: 'version', peerVersion: theirs.version, ours: spec.version, theirs: theirs.version },
      },
    );
  }
  for (const p of expect.shared ?? []) {
    const a = ours[p.field];
    const b = theirs[p.field];
    if (sameValue(a, b)) continue;
    const align = p.flag ? `; pass the same ${p.flag} on both sides` : '; both sides must use the same value';
    throw new KoppelError(p.code, `The peer's ${p.field} is ${show(b)}, this side's is ${show(a)}${align}.`, {
      details: { field: p.field, ours: show(a), theirs: show(b) },
    });
  }
}

/**
 * The HELLO fields of a matching protocol (PSI, join) about its identifiers: the id type
 * and the version of the normalisation rules. Optional on the wire, so a HELLO without
 * them (an older peer) is a mismatch, not a malformed message.
 */
export const IdentifierHello = t.partial({
  idType: t.keyof({ bsn: null, email: null, raw: null }, 'IdType'),
  normalisation: intRange(1, 255),
});

/** The shared parameters of {@link IdentifierHello}: identifiers normalised differently never match. */
export const IDENTIFIER_SHARED: readonly SharedParam[] = [
  { field: 'idType', code: 'ID_TYPE_MISMATCH', flag: '--id-type' },
  { field: 'normalisation', code: 'ID_TYPE_MISMATCH', flag: 'koppel version' },
];

/**
 * An agreement hash as a protocol option takes it: 64 lowercase hex digits (SHA-256), or
 * none.
 *
 * @throws KoppelError `INVALID_ARGUMENT`
 */
export function checkAgreementHash(hash: string | undefined): string | undefined {
  if (hash === undefined) return undefined;
  if (!isAgreementHash(hash))
    throw new KoppelError('INVALID_ARGUMENT', 'agreement must be the SHA-256 of the linking agreement, as 64 lowercase hex digits (agreementHash()).');
  return hash;
}

/** True for an agreement hash as HELLOs carry it: a SHA-256 as 64 lowercase hex digits. */
export function isAgreementHash(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}
