/**
 * Linking agreements (docs/agreement.md): what two or more agencies agreed in writing,
 * as a JSON document every party signs and every run checks. It fixes the protocol and
 * its shared parameters, each party's role, certificate identity, input columns and
 * disclosure policy, the validity period, the purpose and the legal basis. Its SHA-256
 * over the canonical JSON ({@link canonicalJson}) is what HELLOs carry and receipts name.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { KoppelError } from '../errors/index.js';
import { t, isLeft, left, right, type Either } from '../util/cjs.js';
import { describeErrors, intRange, pattern } from '../wire/codec.js';

/** The agreement format version this code reads and writes. */
export const AGREEMENT_FORMAT = 1;

/** The protocols an agreement can govern, with the roles each knows. */
export const AGREEMENT_ROLES = {
  psi: ['server', 'client'],
  join: ['groups', 'values', 'helper'],
  aggregate: ['input', 'aggregator', 'collector'],
  oprf: ['service', 'client'],
} as const;

/** A protocol an agreement governs. */
export type AgreementProtocol = keyof typeof AGREEMENT_ROLES;

const Name = pattern(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'party name (letters, digits, . _ -)', 64);
/** No control characters but tab and line breaks (`lines`), or none at all. */
function printable(s: string, lines: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && !(lines && (c === 0x09 || c === 0x0a || c === 0x0d))) return false;
  }
  return true;
}
const Text = t.refinement(t.string, (s) => s.length <= 4000 && printable(s, true), 'text');
const Column = t.refinement(t.string, (s) => s.length >= 1 && s.length <= 128 && printable(s, false), 'column name');
const Columns = t.array(Column);
const Timestamp = pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/, 'ISO 8601 date-time with zone', 40);
const Fingerprint = pattern(/^[0-9a-fA-F:]{64,95}$/, 'SHA-256 fingerprint', 95);

/** A party's certificate identity: subject CN / subjectAltName names, and/or DER SHA-256 fingerprints. */
const CertificateId = t.exact(t.partial({ names: t.array(pattern(/^\S+$/, 'certificate name', 253)), fingerprints: t.array(Fingerprint) }));

/** What a party reads from its input, as the real run reads it. */
const PartyInput = t.exact(
  t.partial({
    idColumn: Column,
    idType: t.keyof({ bsn: null, email: null, raw: null }),
    groupColumns: Columns,
    valueColumns: Columns,
    maxValue: intRange(0, 2 ** 40),
    payloadColumns: Columns,
    domain: pattern(/^[a-z0-9][a-z0-9._-]*$/, 'pseudonymisation domain', 128),
  }),
);

/** A party's disclosure policy: the flags of its command that decide what the others learn. */
const PartyPolicy = t.exact(
  t.partial({
    minCount: intRange(1, 2 ** 31),
    protection: intRange(1, 2 ** 31),
    valueProtection: t.refinement(t.number, (n) => n >= 0 && n <= 100, 'percentage'),
    secondary: t.boolean,
    totals: t.boolean,
    padListsTo: intRange(1, 2 ** 32 - 1),
    padGroupsTo: intRange(1, 65534),
    padTo: intRange(0, 2 ** 32 - 2),
    maxLists: intRange(1, 65534),
    minListSize: intRange(1, 2 ** 27),
    threshold: intRange(1, 2 ** 31),
    cellKey: t.string,
    /** OPRF: a client's evaluations per budget period. */
    budget: intRange(1, 2 ** 40),
    /** OPRF: the length of a client's budget period, in seconds. */
    budgetPeriod: intRange(1, 366 * 86400),
  }),
);

/** One party of an agreement. */
const AgreementPartyCodec = t.exact(
  t.intersection([
    t.type({ name: Name, role: t.string, certificate: CertificateId }),
    t.partial({ organisation: Text, contact: Text, input: PartyInput, policy: PartyPolicy }),
  ]),
);

/** The agreement itself: what every party signs. */
export const AgreementCodec = t.exact(
  t.intersection([
    t.type({
      koppelAgreement: t.literal(AGREEMENT_FORMAT),
      id: pattern(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'agreement id', 128),
      version: intRange(1, 2 ** 31),
      purpose: Text,
      legalBasis: Text,
      validity: t.exact(t.type({ notBefore: Timestamp, notAfter: Timestamp })),
      protocol: t.keyof({ psi: null, join: null, aggregate: null, oprf: null }),
      parameters: t.exact(
        t.partial({
          variant: t.keyof({ 'two-party': null, helper: null }),
          /** PSI and join: the group; OPRF: the RFC 9497 suite (`ristretto255-SHA512`). */
          suite: t.keyof({ x25519: null, ristretto255: null, 'ristretto255-SHA512': null }),
          /** PSI: intersection, cardinality or payload; OPRF: oprf or voprf. */
          mode: t.keyof({ intersection: null, cardinality: null, payload: null, oprf: null, voprf: null }),
          /** OPRF: the service key id every client pins. */
          kid: pattern(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'key id', 64),
        }),
      ),
      parties: t.array(AgreementPartyCodec),
    }),
    t.partial({ round: t.UnknownRecord }),
  ]),
  'Agreement',
);

/** A linking agreement. */
export type Agreement = t.TypeOf<typeof AgreementCodec>;
/** One party of a {@link Agreement}. */
export type AgreementParty = Agreement['parties'][number];

/** One party's signature of an agreement (docs/agreement.md, "Signatures"). */
const SignatureCodec = t.exact(
  t.type({
    party: Name,
    /** The signer's certificate (PEM): the key that signed is the key it connects with. */
    certificate: pattern(/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/, 'PEM certificate', 16384),
    signedAt: Timestamp,
    signature: pattern(/^[A-Za-z0-9+/]+=*$/, 'base64', 2048),
  }),
);

/** A party's signature of an agreement. */
export type AgreementSignature = t.TypeOf<typeof SignatureCodec>;

/** The agreement file: the agreement and the signatures so far. */
export const AgreementFileCodec = t.exact(t.type({ agreement: AgreementCodec, signatures: t.array(SignatureCodec) }), 'AgreementFile');

/** An agreement file's content. */
export type AgreementFile = t.TypeOf<typeof AgreementFileCodec>;

/**
 * JSON in one canonical form (sorted keys, no whitespace, JSON numbers as JavaScript
 * prints them: RFC 8785 for the values an agreement holds), so the same agreement
 * always gives the same bytes and the same hash.
 *
 * @throws KoppelError `INVALID_ARGUMENT` for a value JSON cannot carry exactly
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new KoppelError('INVALID_ARGUMENT', 'An agreement holds only finite numbers.');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new KoppelError('INVALID_ARGUMENT', 'An agreement holds only JSON values.');
}

/** The agreement's SHA-256 over its canonical JSON, as 64 hex digits: what HELLOs carry and receipts name. */
export function agreementHash(agreement: Agreement): string {
  return createHash('sha256').update(canonicalJson(agreement)).digest('hex');
}

/**
 * Checks what the codec cannot: roles known for the protocol, unique party names, a
 * certificate identity per party, a validity period that ends after it starts, the
 * roles a protocol needs, and a round for aggregation.
 */
function checkAgreement(a: Agreement): KoppelError | undefined {
  const bad = (message: string) => new KoppelError('AGREEMENT_INVALID', message);
  const roles: readonly string[] = AGREEMENT_ROLES[a.protocol];
  const names = new Set<string>();
  for (const p of a.parties) {
    if (!roles.includes(p.role)) return bad(`Party ${p.name} has role ${JSON.stringify(p.role)}, which ${a.protocol} does not know (${roles.join(', ')}).`);
    if (names.has(p.name)) return bad(`The party name ${p.name} occurs twice.`);
    names.add(p.name);
    if ((p.certificate.names ?? []).length === 0 && (p.certificate.fingerprints ?? []).length === 0)
      return bad(`Party ${p.name} names no certificate (certificate.names or certificate.fingerprints): nobody could check who it is.`);
  }
  const notBefore = Date.parse(a.validity.notBefore);
  const notAfter = Date.parse(a.validity.notAfter);
  if (!(notBefore < notAfter)) return bad('The validity period ends before it starts.');
  const need: Record<AgreementProtocol, string[]> = {
    psi: ['server', 'client'],
    join: a.parameters.variant === 'helper' ? ['groups', 'values', 'helper'] : ['groups', 'values'],
    aggregate: ['input', 'aggregator', 'collector'],
    oprf: ['service', 'client'],
  };
  for (const r of need[a.protocol]) if (!a.parties.some((p) => p.role === r)) return bad(`The agreement names no party with role ${r}.`);
  if (a.protocol === 'aggregate' && a.round === undefined) return bad('An aggregation agreement carries its round (the round file) in "round".');
  return checkParameters(a);
}

/** The OPRF parameters belong to an oprf agreement, and an oprf agreement takes no other: refused naming the field. */
function checkParameters(a: Agreement): KoppelError | undefined {
  const bad = (field: string, allowed: string) => new KoppelError('AGREEMENT_INVALID', `parameters.${field} of a ${a.protocol} agreement is ${allowed}.`);
  const { mode, suite, kid } = a.parameters;
  const oprf = a.protocol === 'oprf';
  const oprfMode = mode === 'oprf' || mode === 'voprf';
  if (mode !== undefined && oprf !== oprfMode) return bad('mode', oprf ? 'oprf or voprf' : 'not oprf or voprf (those are the OPRF service\u2019s modes)');
  if (suite !== undefined && oprf !== (suite === 'ristretto255-SHA512')) return bad('suite', oprf ? 'ristretto255-SHA512' : 'x25519 or ristretto255');
  if (kid !== undefined && !oprf) return bad('kid', 'left out (only an oprf agreement fixes a service key id)');
  if (oprf && a.parties.filter((p) => p.role === 'service').length !== 1)
    return new KoppelError('AGREEMENT_INVALID', 'An oprf agreement names exactly one service.');
  return undefined;
}

/**
 * Decodes an agreement file's JSON text: `Left` with a typed error (naming paths and
 * expected types, never values) if it is not one.
 */
export function parseAgreementFile(text: string): Either<KoppelError, AgreementFile> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return left(new KoppelError('AGREEMENT_INVALID', 'The agreement file is not JSON.'));
  }
  const r = AgreementFileCodec.decode(json);
  if (isLeft(r)) return left(new KoppelError('AGREEMENT_INVALID', `The agreement file is malformed (${describeErrors(r.left)}).`));
  const problem = checkAgreement(r.right.agreement);
  return problem ? left(problem) : right(r.right);
}

/** The party of `name`, or a typed error naming the parties there are. */
export function agreementParty(a: Agreement, name: string): AgreementParty {
  const p = a.parties.find((x) => x.name === name);
  if (!p)
    throw new KoppelError(
      'AGREEMENT_INVALID',
      `The agreement names no party ${JSON.stringify(name)}; its parties: ${a.parties.map((x) => x.name).join(', ')}.`,
    );
  return p;
}
