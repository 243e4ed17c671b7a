/**
 * Run receipts (docs/agreement.md, "Receipts"): at the end of a session each party
 * signs what it ran and learned, sends it to its peer, checks the peer's, and signs the
 * peer's receipt back (a countersignature). Both receipts carry the session's transcript
 * hash, which both ends compute from the same frames, so a pair of receipts shows that
 * the two parties took part in one and the same run. A receipt proves what was run and
 * released; it cannot prove what a party did with its own data.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { KoppelError } from '../errors/index.js';
import type { Session } from '../session/session.js';
import { isLeft, t } from '../util/cjs.js';
import { describeErrors, pattern } from '../wire/codec.js';
import { toHex } from '../util/bytes.js';
import { canonicalJson } from './agreement.js';
import { certificateIdentity, checkSignature, signBytes, signedBytes, type Signer } from './signature.js';

/** The step of a receipt in every protocol (after the protocol's own last step). */
export const RECEIPT_STEP = 61;
/** The step of a countersignature. */
export const COUNTERSIGN_STEP = 62;
const RECEIPT_CONTEXT = 'koppel-receipt-v1';
const COUNTERSIGN_CONTEXT = 'koppel-receipt-countersignature-v1';

/** What one party states about a run it took part in. Sizes and hashes only: never a value or an identifier. */
export interface ReceiptBody {
  readonly koppelReceipt: 1;
  readonly command: string;
  readonly role: string;
  readonly koppel: string;
  readonly protocol: { readonly name: string; readonly version: number };
  readonly agreement: { readonly id: string; readonly version: number; readonly hash: string; readonly party: string } | null;
  /** The session id (hex), or null when the run failed before one was open. */
  readonly session: string | null;
  /** The transcript hash both ends compute (hex), or null on a failed run. */
  readonly transcript: string | null;
  readonly self: { readonly names: readonly string[]; readonly fingerprint: string };
  readonly peer: { readonly names: readonly string[]; readonly fingerprint: string | null };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly status: 'completed' | 'failed';
  readonly error: string | null;
  /** Records read and skipped (by reason). */
  readonly inputs: Readonly<Record<string, number>>;
  /** What this party learned, in sizes (e.g. B: list sizes; A: released rows). */
  readonly learned: Readonly<Record<string, unknown>>;
  /** SHA-256 of every output file, by name. */
  readonly outputs: ReadonlyArray<{ readonly name: string; readonly sha256: string }>;
  /**
   * A party with several sessions (aggregation, the join helper, the helper variant's
   * parties): each session this receipt covers, in the order of
   * {@link ReceiptFile.sessions}. Then `session`, `transcript` and `peer` above are empty.
   */
  readonly sessions?: readonly SessionEntry[];
}

/** One session of a multi-session receipt: whom, which session, which transcript. */
export interface SessionEntry {
  readonly session: string | null;
  readonly transcript: string | null;
  readonly peer: { readonly names: readonly string[]; readonly fingerprint: string | null };
}

/** A receipt as written to `--receipt FILE`. */
export interface ReceiptFile {
  readonly receipt: ReceiptBody;
  /** This party's certificate (PEM) and its signature of the receipt. */
  readonly certificate: string;
  readonly signature: string;
  /** The peer's certificate and its countersignature of this receipt (absent on a failed run). */
  readonly countersignature: { readonly certificate: string; readonly signature: string } | null;
  /** The peer's own receipt of the same session, with its signature. */
  readonly peerReceipt: { readonly receipt: ReceiptBody; readonly certificate: string; readonly signature: string } | null;
  /**
   * A party with several sessions: each session's receipt, exchanged and countersigned
   * on that session as above. The file's own receipt (with `sessions`) is signed by this
   * party only: its peers each countersigned the session they took part in.
   */
  readonly sessions?: readonly ReceiptFile[];
}

/**
 * The receipt of a party with several sessions: `body` (its inputs, what it learned in
 * all, its outputs) names each session's receipt, and is signed by this party.
 *
 * @param sessions - each session's receipt from {@link exchangeReceipts}, in order
 */
export function multiSessionReceipt(body: ReceiptBody, sessions: readonly ReceiptFile[], signer: Signer): ReceiptFile {
  const entries: SessionEntry[] = sessions.map((x) => ({ session: x.receipt.session, transcript: x.receipt.transcript, peer: x.receipt.peer }));
  const summary: ReceiptBody = { ...body, session: null, transcript: null, peer: { names: [], fingerprint: null }, sessions: entries };
  return { receipt: summary, ...signReceipt(summary, signer), countersignature: null, peerReceipt: null, sessions: [...sessions] };
}

/** The SHA-256 of a receipt body's canonical JSON (hex). */
export function receiptHash(body: ReceiptBody): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

const receiptBytes = (body: ReceiptBody) => signedBytes(RECEIPT_CONTEXT, { receipt: receiptHash(body) });
const countersignBytes = (body: ReceiptBody) => signedBytes(COUNTERSIGN_CONTEXT, { receipt: receiptHash(body) });

const Hex = (n: number) => pattern(new RegExp(`^[0-9a-f]{${n}}$`), `hex(${n})`, n);
const Short = pattern(/^/, 'short text', 256);
const Names = t.array(Short);
const Scalar = t.union([t.number, Short, t.boolean, t.null]);

/** The shape of a peer's receipt body: flat values only, so checking and hashing it is bounded. */
const ReceiptBodyCodec = t.exact(
  t.type({
    koppelReceipt: t.literal(1),
    command: Short,
    role: Short,
    koppel: Short,
    protocol: t.exact(t.type({ name: Short, version: t.number })),
    agreement: t.union([t.null, t.exact(t.type({ id: Short, version: t.number, hash: Hex(64), party: Short }))]),
    session: t.union([t.null, Hex(32)]),
    transcript: t.union([t.null, Hex(64)]),
    self: t.exact(t.type({ names: Names, fingerprint: Short })),
    peer: t.exact(t.type({ names: Names, fingerprint: t.union([t.null, Short]) })),
    startedAt: Short,
    finishedAt: Short,
    status: t.keyof({ completed: null, failed: null }),
    error: t.union([t.null, Short]),
    inputs: t.record(Short, t.number),
    learned: t.record(Short, t.union([Scalar, t.array(t.number)])),
    outputs: t.array(t.exact(t.type({ name: Short, sha256: Hex(64) }))),
  }),
  'ReceiptBody',
);

/** A receipt as it travels: checked for shape here, for content by {@link checkPeerReceipt}. */
const WireReceipt = t.exact(
  t.type({
    receipt: ReceiptBodyCodec,
    certificate: pattern(/^/, 'PEM certificate', 16384),
    signature: pattern(/^/, 'base64', 2048),
  }),
);
const WireCountersign = t.exact(t.type({ signature: pattern(/^/, 'base64', 2048) }));

/** The DER SHA-256 of a PEM certificate (hex). */
export function certificateFingerprint(pem: string): string {
  return certificateIdentity(pem).fingerprint ?? '';
}

/** A self-signed receipt: for a failed run, or before the exchange. */
export function signReceipt(body: ReceiptBody, signer: Signer): { certificate: string; signature: string } {
  return { certificate: signer.cert, signature: signBytes(signer, receiptBytes(body)) };
}

/**
 * Checks a peer's receipt: its certificate is the session's authenticated peer (by
 * fingerprint) and issued by the CA, its signature verifies, and it names the same
 * session and transcript as ours.
 *
 * @throws KoppelError `PROOF_INVALID`
 */
function checkPeerReceipt(session: Session, ours: ReceiptBody, theirs: { receipt: ReceiptBody; certificate: string; signature: string }, ca: string): void {
  const fail = (why: string) => new KoppelError('PROOF_INVALID', `The peer's receipt does not hold: ${why}.`);
  const fp = certificateFingerprint(theirs.certificate);
  if (!session.peer?.fingerprint || fp !== session.peer.fingerprint) throw fail('it is signed with another certificate than the one the peer connected with');
  const why = checkSignature(theirs.certificate, ca, receiptBytes(theirs.receipt), theirs.signature, new Date());
  if (why) throw fail(why);
  if (theirs.receipt.session !== ours.session || theirs.receipt.transcript !== ours.transcript) throw fail('it names another session or transcript');
}

/**
 * The receipt exchange, the last step of a session: sends our signed receipt, checks
 * the peer's, countersigns it, and checks the peer's countersignature of ours.
 *
 * @param ca - the CA (PEM) the peer's certificate must chain to
 * @throws KoppelError `PROOF_INVALID`, `MESSAGE_MALFORMED`, the channel's errors
 */
export async function exchangeReceipts(session: Session, body: ReceiptBody, signer: Signer, ca: string): Promise<ReceiptFile> {
  const mine = signReceipt(body, signer);
  await session.sendJson(RECEIPT_STEP, { receipt: body, ...mine });
  const raw = await session.receiveJson(RECEIPT_STEP, WireReceipt);
  const theirs = { receipt: raw.receipt as ReceiptBody, certificate: raw.certificate, signature: raw.signature };
  checkPeerReceipt(session, body, theirs, ca);
  await session.sendJson(COUNTERSIGN_STEP, { signature: signBytes(signer, countersignBytes(theirs.receipt)) });
  const counter = await session.receiveJson(COUNTERSIGN_STEP, WireCountersign);
  const why = checkSignature(theirs.certificate, ca, countersignBytes(body), counter.signature, new Date());
  if (why) throw new KoppelError('PROOF_INVALID', `The peer's countersignature of this receipt does not hold: ${why}.`);
  return { receipt: body, ...mine, countersignature: { certificate: theirs.certificate, signature: counter.signature }, peerReceipt: theirs };
}

/** A receipt with its signer's certificate and signature, as one party hands it to the other. */
export interface SignedReceipt {
  readonly receipt: ReceiptBody;
  readonly certificate: string;
  readonly signature: string;
}

/**
 * Decodes a signed receipt that arrived from a peer (shape and sizes only: its
 * signature is checked by the caller).
 *
 * @throws KoppelError `MESSAGE_MALFORMED`
 */
export function decodeSignedReceipt(json: unknown): SignedReceipt {
  const r = WireReceipt.decode(json);
  if (isLeft(r)) throw new KoppelError('MESSAGE_MALFORMED', `A signed receipt is malformed (${describeErrors(r.left)}).`);
  return { receipt: r.right.receipt, certificate: r.right.certificate, signature: r.right.signature };
}

/** This party's countersignature of a peer's receipt (base64). */
export function countersignReceipt(peer: ReceiptBody, signer: Signer): string {
  return signBytes(signer, countersignBytes(peer));
}

/**
 * The OPRF service's side of a client run's receipt (docs/agreement.md, "The OPRF
 * service"): checks the client's signed receipt (signed with the certificate the client
 * connected with, through the CA; the run, the transcript and the agreement the service
 * holds for it), then signs its own receipt and countersigns the client's.
 *
 * @param service - the service's own receipt of the run (its transcript, counts, times)
 * @returns the line the service keeps (its receipt, with the client's beside it) and the
 *   answer for the client (the countersignature, and the service's own signed receipt)
 * @throws KoppelError `PROOF_INVALID` naming what does not hold
 */
export function answerOprfReceipt(
  client: SignedReceipt,
  service: ReceiptBody,
  o: { readonly clientFingerprint: string; readonly signer: Signer; readonly ca: string },
): { line: ReceiptFile; answer: { countersignature: string } & SignedReceipt } {
  const fail = (why: string) => new KoppelError('PROOF_INVALID', `The client's receipt does not hold: ${why}.`);
  if (certificateFingerprint(client.certificate) !== o.clientFingerprint)
    throw fail('it is signed with another certificate than the one the client connected with');
  const why = checkSignature(client.certificate, o.ca, receiptBytes(client.receipt), client.signature, new Date());
  if (why) throw fail(why);
  const c = client.receipt;
  if (c.status !== 'completed') throw fail('it is not of a completed run');
  if (c.session !== service.session || c.transcript !== service.transcript)
    throw fail('it names another run or another transcript than the service computed (a lost answer, a restart, or another run)');
  if ((c.agreement?.hash ?? null) !== (service.agreement?.hash ?? null)) throw fail('it names another agreement than the service runs under');
  const mine = signReceipt(service, o.signer);
  const line: ReceiptFile = { receipt: service, ...mine, countersignature: null, peerReceipt: client };
  return { line, answer: { countersignature: countersignReceipt(c, o.signer), receipt: service, ...mine } };
}

const WireOprfAnswer = t.exact(
  t.type({
    countersignature: pattern(/^/, 'base64', 2048),
    receipt: ReceiptBodyCodec,
    certificate: pattern(/^/, 'PEM certificate', 16384),
    signature: pattern(/^/, 'base64', 2048),
  }),
);

/**
 * The OPRF client's side: signs its receipt of the run, hands it to the service
 * (`post`, e.g. `POST /v1/receipt`), and checks the answer: the service's own receipt is
 * signed with the certificate the service presented, through the CA, and names the same
 * run and transcript; its countersignature of ours verifies.
 *
 * @param serviceFingerprint - the DER SHA-256 of the certificate the service presented
 * @throws KoppelError `PROOF_INVALID`, `MESSAGE_MALFORMED`, and what `post` throws
 */
export async function exchangeOprfReceipt(
  body: ReceiptBody,
  o: { readonly signer: Signer; readonly ca: string; readonly serviceFingerprint: string; readonly post: (signed: SignedReceipt) => Promise<unknown> },
): Promise<ReceiptFile> {
  const mine = signReceipt(body, o.signer);
  const raw = WireOprfAnswer.decode(await o.post({ receipt: body, ...mine }));
  if (isLeft(raw)) throw new KoppelError('MESSAGE_MALFORMED', `The service's answer to the receipt is malformed (${describeErrors(raw.left)}).`);
  const theirs: SignedReceipt = { receipt: raw.right.receipt, certificate: raw.right.certificate, signature: raw.right.signature };
  const fail = (why: string) => new KoppelError('PROOF_INVALID', `The service's receipt does not hold: ${why}.`);
  if (certificateFingerprint(theirs.certificate) !== o.serviceFingerprint)
    throw fail('it is signed with another certificate than the one the service presented');
  const why = checkSignature(theirs.certificate, o.ca, receiptBytes(theirs.receipt), theirs.signature, new Date());
  if (why) throw fail(why);
  if (theirs.receipt.session !== body.session || theirs.receipt.transcript !== body.transcript) throw fail('it names another run or transcript');
  const counter = checkSignature(theirs.certificate, o.ca, countersignBytes(body), raw.right.countersignature, new Date());
  if (counter) throw new KoppelError('PROOF_INVALID', `The service's countersignature of this receipt does not hold: ${counter}.`);
  return { receipt: body, ...mine, countersignature: { certificate: theirs.certificate, signature: raw.right.countersignature }, peerReceipt: theirs };
}

/** The name of a session's peer, for messages. */
function peerName(e: SessionEntry): string {
  return e.peer.names[0] ?? (e.peer.fingerprint ? `fingerprint ${e.peer.fingerprint.slice(0, 16)}...` : 'unknown peer');
}

/**
 * A multi-session receipt's sessions: the signed list names exactly the session
 * receipts the file holds, each is this party's (same certificate), and each verifies
 * as a one-session receipt (countersignature, the peer's receipt, the same transcript).
 */
function checkSessions(file: ReceiptFile, ca: string, problems: string[], passed: string[]): void {
  const entries = file.receipt.sessions ?? [];
  const held = file.sessions ?? [];
  if (entries.length !== held.length) {
    problems.push(`the receipt names ${entries.length} session(s) but the file holds ${held.length}`);
    return;
  }
  if (held.length === 0) {
    problems.push(
      file.receipt.status === 'failed' ? `the run failed (${file.receipt.error ?? 'unknown'}) before any session's receipt` : 'no session receipts',
    );
  }
  const self = certificateFingerprint(file.certificate);
  held.forEach((x, i) => {
    const e = entries[i] as SessionEntry;
    const name = `session ${i + 1} (${peerName(e)})`;
    if (x.receipt.session !== e.session || x.receipt.transcript !== e.transcript || x.receipt.peer.fingerprint !== e.peer.fingerprint)
      problems.push(`${name}: the signed receipt names another session, transcript or peer than the one held`);
    if (certificateFingerprint(x.certificate) !== self) problems.push(`${name}: signed with another certificate than this receipt's`);
    if (x.sessions !== undefined) problems.push(`${name}: a session receipt may not hold sessions itself`);
    else {
      const c = verifyReceipt(x, ca);
      for (const p of c.problems) problems.push(`${name}: ${p}`);
      if (c.problems.length === 0)
        passed.push(`${name}: countersigned by the peer, whose own receipt carries the same transcript ${x.receipt.transcript ?? ''}`);
    }
  });
  if (file.receipt.status === 'failed') problems.push(`the run failed (${file.receipt.error ?? 'unknown'})`);
}

/** The OPRF service's receipt of a client run (one line of `oprf serve --receipt FILE`). */
function isOprfServiceReceipt(file: ReceiptFile): boolean {
  return file.receipt.protocol.name === 'oprf' && file.receipt.role === 'service' && file.countersignature === null;
}

/** The peer's own receipt in a receipt file: its signature through the CA, and the same session and transcript. */
function checkPeerHalf(file: ReceiptFile, peer: SignedReceipt, ca: string, at: Date, problems: string[], passed: string[]): void {
  const p = checkSignature(peer.certificate, ca, receiptBytes(peer.receipt), peer.signature, at);
  if (p) problems.push(`the peer's receipt: ${p}`);
  else passed.push("the peer's receipt verifies through the CA");
  if (peer.receipt.transcript !== file.receipt.transcript || peer.receipt.session !== file.receipt.session)
    problems.push('the two receipts name different sessions or transcripts');
  else passed.push(`both receipts carry transcript ${file.receipt.transcript ?? ''}`);
}

/** What {@link verifyReceipt} checked. */
export interface ReceiptCheck {
  readonly problems: readonly string[];
  /** Checks that passed, in words (for `koppel receipt verify`). */
  readonly passed: readonly string[];
}

/**
 * Verifies a receipt file: this party's signature and the peer's countersignature
 * through the CA, the peer's receipt and its signature, the same transcript in both,
 * and optionally the agreement's hash and an output file's SHA-256.
 */
export function verifyReceipt(file: ReceiptFile, ca: string, o: { agreementHash?: string; table?: { name: string; bytes: Uint8Array } } = {}): ReceiptCheck {
  const problems: string[] = [];
  const passed: string[] = [];
  const at = new Date(file.receipt.finishedAt);
  const own = checkSignature(file.certificate, ca, receiptBytes(file.receipt), file.signature, at);
  if (own) problems.push(`this party's signature: ${own}`);
  else passed.push("this party's signature verifies through the CA");
  if (certificateFingerprint(file.certificate) !== file.receipt.self.fingerprint) problems.push("the signing certificate is not the receipt's own party");
  if (file.sessions !== undefined || file.receipt.sessions !== undefined) {
    checkSessions(file, ca, problems, passed);
  } else if (isOprfServiceReceipt(file) && file.peerReceipt !== null) {
    // The OPRF service answers the client's receipt in one request: the client's own
    // signed receipt, handed in first and naming the same run and transcript, is the
    // client's word on the run (docs/agreement.md, "The OPRF service").
    if (file.receipt.status !== 'completed') problems.push(`the run failed (${file.receipt.error ?? 'unknown'})`);
    if (certificateFingerprint(file.peerReceipt.certificate) !== file.receipt.peer.fingerprint)
      problems.push("the client's receipt is not signed by the receipt's peer");
    checkPeerHalf(file, file.peerReceipt, ca, at, problems, passed);
  } else if (file.countersignature === null || file.peerReceipt === null) {
    problems.push(file.receipt.status === 'failed' ? `the run failed (${file.receipt.error ?? 'unknown'}): no countersignature` : 'no countersignature');
  } else {
    const c = checkSignature(file.countersignature.certificate, ca, countersignBytes(file.receipt), file.countersignature.signature, at);
    if (c) problems.push(`the peer's countersignature: ${c}`);
    else passed.push("the peer's countersignature verifies through the CA");
    if (certificateFingerprint(file.countersignature.certificate) !== file.receipt.peer.fingerprint)
      problems.push("the countersigning certificate is not the receipt's peer");
    checkPeerHalf(file, file.peerReceipt, ca, at, problems, passed);
  }
  if (o.agreementHash !== undefined) {
    if (file.receipt.agreement?.hash !== o.agreementHash) problems.push('the receipt is not of a run under this agreement');
    else passed.push('the run was under this agreement');
  }
  if (o.table) {
    const sha = toHex(createHash('sha256').update(o.table.bytes).digest());
    const entry = file.receipt.outputs.find((x) => x.sha256 === sha);
    if (!entry) problems.push(`the file ${o.table.name} is not an output of this run (or was changed after it)`);
    else passed.push(`the file ${o.table.name} is the run's output ${entry.name}`);
  }
  return { problems, passed };
}
