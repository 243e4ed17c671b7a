/**
 * `--receipt FILE` on the two-party networked commands, and `koppel receipt verify`
 * (docs/agreement.md, "Receipts").
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { KoppelError } from '../errors/index.js';
import { agreementHash } from '../agreement/agreement.js';
import { certificateIdentity } from '../agreement/signature.js';
import {
  exchangeOprfReceipt,
  exchangeReceipts,
  multiSessionReceipt,
  signReceipt,
  verifyReceipt,
  type ReceiptBody,
  type ReceiptFile,
} from '../agreement/receipt.js';
import type { OprfPseudonymiser } from '../oprf/client.js';
import type { Session } from '../session/session.js';
import type { PeerIdentity } from '../transport/peer.js';
import { VERSION } from '../version.js';
import type { AgreementFlags } from './agreement.js';
import { readAgreementFile } from './agreement.js';
import type { Command } from './commander.js';
import { sha256Hex } from './common.js';
import { readTextFile, writeOutput } from './io.js';
import type { Console } from './program.js';

/** Flags a command with `--receipt` reads. */
export interface ReceiptFlags extends AgreementFlags {
  readonly receipt?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsCa?: string;
  readonly insecure?: boolean;
}

/** What a receipt names of the run it covers: a session, or an OPRF client run. */
interface ReceiptRun {
  readonly protocol: { readonly name: string; readonly version: number };
  readonly idHex: string;
  readonly peer?: PeerIdentity | undefined;
  transcript(): Uint8Array;
}

/** An output file as a receipt names it: read and hashed here, or hashed already (a large file, streamed). */
type ReceiptOutput = { path: string; text?: string } | { path: string; sha256: string };

/** Adds `--receipt FILE`. */
export function addReceiptOption(cmd: Command): Command {
  return cmd.option('--receipt <file>', 'write a receipt of the run, signed by this party and countersigned by the peer (mutual TLS; docs/agreement.md)');
}

/**
 * One run's receipt: started with the command, told the session, and either exchanged
 * with the peer at the end of the session or written self-signed for a failed run.
 */
export class ReceiptRecorder {
  readonly #flags: ReceiptFlags;
  readonly #command: string;
  readonly #role: string;
  readonly #startedAt = new Date();
  #session: Session | undefined;
  #done = false;
  /** A party with several sessions: each session's exchanged receipt, in order. */
  readonly #sessions: Array<{ file: ReceiptFile; order: number }> = [];

  constructor(flags: ReceiptFlags, command: string, role: string) {
    this.#flags = flags;
    this.#command = command;
    this.#role = role;
    if (flags.receipt !== undefined && (flags.insecure || !flags.tlsCert || !flags.tlsKey || !flags.tlsCa))
      throw new KoppelError('INVALID_ARGUMENT', '--receipt signs with this party\u2019s TLS key: it needs mutual TLS (--tls-cert, --tls-key, --tls-ca).');
  }

  /** Whether a receipt is asked for. */
  get wanted(): boolean {
    return this.#flags.receipt !== undefined;
  }

  /** For the protocol's `onSession`. */
  readonly onSession = (s: Session): void => {
    this.#session = s;
  };

  #helper: Session | undefined;

  /** For the join's `onHelperSession`: the receipt then covers both sessions. */
  readonly onHelperSession = (s: Session): void => {
    this.#helper = s;
  };

  /** An OPRF client run, once connected (for a failed run's receipt). */
  #run: ReceiptRun | undefined;

  #body(
    status: 'completed' | 'failed',
    o: { error?: string; inputs?: Record<string, number>; learned?: Record<string, unknown>; outputs?: ReceiptOutput[] },
    s: ReceiptRun | undefined,
  ): ReceiptBody {
    const f = this.#flags;
    const self = certificateIdentity(readTextFile(f.tlsCert as string, 'TLS certificate'));
    return {
      koppelReceipt: 1,
      command: this.#command,
      role: this.#role,
      koppel: VERSION,
      protocol: s ? { name: s.protocol.name, version: s.protocol.version } : (this.#sessions[0]?.file.receipt.protocol ?? { name: this.#command, version: 0 }),
      agreement: f.agreementRun ?? null,
      session: s ? s.idHex : null,
      transcript: s && status === 'completed' ? Buffer.from(s.transcript()).toString('hex') : null,
      self: { names: self.names, fingerprint: self.fingerprint ?? '' },
      peer: { names: s?.peer?.names ?? [], fingerprint: s?.peer?.fingerprint ?? null },
      startedAt: this.#startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      status,
      error: o.error ?? null,
      inputs: o.inputs ?? {},
      learned: o.learned ?? {},
      outputs: (o.outputs ?? []).map((x) => ({
        name: basename(x.path),
        sha256: 'sha256' in x ? x.sha256 : sha256Hex(x.text ?? readFileSync(x.path)),
      })),
    };
  }

  #signer() {
    return { cert: readTextFile(this.#flags.tlsCert as string, 'TLS certificate'), key: readTextFile(this.#flags.tlsKey as string, 'TLS key') };
  }

  /**
   * For the run's metadata (and so the results report): the receipt file's name and the
   * sessions it names with their transcript hashes, once it is written; `null` without one.
   */
  get summary(): { file: string; sessions: Array<{ session: string | null; transcript: string | null }> } | null {
    if (!this.wanted || !this.#done) return null;
    const files = this.#sessions.length > 0 ? this.#sorted() : this.#single ? [this.#single] : [];
    return { file: basename(this.#flags.receipt as string), sessions: files.map((f) => ({ session: f.receipt.session, transcript: f.receipt.transcript })) };
  }

  #single: ReceiptFile | undefined;

  /** The exchange at the end of the session (in the protocol's `beforeClose`), then the file. */
  async exchange(o: { inputs: Record<string, number>; learned: Record<string, unknown>; outputs?: Array<{ path: string; text?: string }> }): Promise<void> {
    if (!this.wanted) return;
    const s = this.#session;
    if (!s) throw new KoppelError('INTERNAL', 'No session to exchange receipts on.');
    const helper = this.#helper;
    if (helper) {
      // Two sessions (the peer's and the helper's), both exchanged at once: each of the
      // three parties waits only for the peer of the session at hand.
      const learned = { learned: o.learned, ...(o.outputs ? { outputs: o.outputs } : {}) };
      await Promise.all([this.exchangeOn(s, { ...learned, order: 0 }), this.exchangeOn(helper, { ...learned, order: 1 })]);
      this.writeSessions(o);
      return;
    }
    const file = await exchangeReceipts(
      s,
      this.#body('completed', o, this.#session),
      this.#signer(),
      readTextFile(this.#flags.tlsCa as string, 'TLS CA certificate'),
    );
    writeOutput(this.#flags.receipt, JSON.stringify(file, null, 2) + '\n');
    this.#single = file;
    this.#done = true;
  }

  /**
   * A party with several sessions: the exchange at the end of one of them (its last
   * step), kept for {@link ReceiptRecorder.writeSessions}. Sessions may exchange
   * concurrently; they are listed in the order their exchanges finish unless `order`
   * places them.
   */
  async exchangeOn(s: Session, o: { learned?: Record<string, unknown>; outputs?: Array<{ path: string; text?: string }>; order?: number } = {}): Promise<void> {
    if (!this.wanted) return;
    const file = await exchangeReceipts(
      s,
      this.#body('completed', { learned: o.learned ?? {}, ...(o.outputs ? { outputs: o.outputs } : {}) }, s),
      this.#signer(),
      readTextFile(this.#flags.tlsCa as string, 'TLS CA certificate'),
    );
    this.#sessions.push({ file, order: o.order ?? Number.MAX_SAFE_INTEGER });
  }

  #sorted(): ReceiptFile[] {
    return [...this.#sessions].sort((a, b) => a.order - b.order).map((x) => x.file);
  }

  /** A party with several sessions: the file, naming every session's receipt, signed by this party. */
  writeSessions(o: { inputs: Record<string, number>; learned: Record<string, unknown>; outputs?: Array<{ path: string; text?: string }> }): void {
    if (!this.wanted) return;
    const file = multiSessionReceipt(this.#body('completed', o, undefined), this.#sorted(), this.#signer());
    writeOutput(this.#flags.receipt, JSON.stringify(file, null, 2) + '\n');
    this.#done = true;
  }

  /**
   * `pseudonymise --oprf`: the client's run, once connected. Its id and the service are
   * then named by the receipt, a failed run's too.
   */
  onOprfRun(client: OprfPseudonymiser): void {
    const run = client.run();
    if (!run) return;
    this.#run = { protocol: { name: 'oprf', version: 1 }, idHex: run.run, peer: run.service, transcript: () => new Uint8Array(0) };
  }

  /**
   * `pseudonymise --oprf`, at the end of the run: the receipt handed to the service
   * (`POST /v1/receipt`), checked and countersigned there, then the file.
   *
   * @throws KoppelError `PROOF_INVALID` when the run's transcript cannot be the service's
   *   (an answer lost and retried) or the service's answer does not hold
   */
  async exchangeOprf(
    client: OprfPseudonymiser,
    o: { inputs: Record<string, number>; learned: Record<string, unknown>; outputs?: ReceiptOutput[] },
  ): Promise<void> {
    if (!this.wanted) return;
    const run = client.run();
    if (!run) throw new KoppelError('INTERNAL', 'No OPRF run to write a receipt of.');
    if (run.transcript === null)
      throw new KoppelError(
        'PROOF_INVALID',
        "A batch's answer was lost and the batch evaluated again: the service's transcript holds an answer this client never saw, so the service cannot countersign this run.",
      );
    const transcript = Buffer.from(run.transcript, 'hex');
    this.#run = { protocol: { name: 'oprf', version: 1 }, idHex: run.run, peer: run.service, transcript: () => transcript };
    const body = this.#body('completed', { ...o, learned: { ...o.learned, batches: run.batches, evaluations: run.evaluations } }, this.#run);
    const file = await exchangeOprfReceipt(body, {
      signer: this.#signer(),
      ca: readTextFile(this.#flags.tlsCa as string, 'TLS CA certificate'),
      serviceFingerprint: run.service?.fingerprint ?? '',
      post: (signed) => client.postReceipt(signed),
    });
    writeOutput(this.#flags.receipt, JSON.stringify(file, null, 2) + '\n');
    this.#single = file;
    this.#done = true;
  }

  /** A failed run's receipt: self-signed, with the error code (best effort: never hides the error). */
  failed(error: unknown): void {
    if (!this.wanted || this.#done) return;
    try {
      const code = error instanceof KoppelError ? error.code : 'INTERNAL';
      if (this.#sessions.length > 0) {
        // A party with several sessions: the ones that did exchange are kept.
        const file = multiSessionReceipt(this.#body('failed', { error: code }, undefined), this.#sorted(), this.#signer());
        writeOutput(this.#flags.receipt, JSON.stringify(file, null, 2) + '\n');
        return;
      }
      const body = this.#body('failed', { error: code }, this.#session ?? this.#run);
      const file: ReceiptFile = { receipt: body, ...signReceipt(body, this.#signer()), countersignature: null, peerReceipt: null };
      writeOutput(this.#flags.receipt, JSON.stringify(file, null, 2) + '\n');
    } catch {
      // The run's own error is what the user needs; a receipt that cannot be written adds nothing.
    }
  }
}

/** Registers `koppel receipt verify`. */
export function receiptCommand(program: Command, io: Console): void {
  const r = program.command('receipt').description('Run receipts: what a party ran and learned, signed by it and countersigned by its peer.');
  r.command('verify')
    .description(
      "Check a receipt: this party's signature, the peer's countersignature and receipt (through the CA), the shared transcript, and optionally the agreement and an output file.",
    )
    .requiredOption('--receipt <file>', 'the receipt (JSON), or the receipts file of `oprf serve --receipt` (JSON lines: every line, or the one of --run)')
    .requiredOption('--tls-ca <file>', "the CA that signed both parties' certificates")
    .option('--agreement <file>', 'the run must have been under this agreement')
    .option('--table <file>', 'this file must be one of the run\u2019s outputs, unchanged')
    .option('--run <id>', 'a receipts file of JSON lines: check only the receipt of this run (its session / run id)')
    .action((f: { receipt: string; tlsCa: string; agreement?: string; table?: string; run?: string }) => {
      const all = readReceipts(f.receipt);
      const files = f.run === undefined ? all : all.filter((x) => x.receipt.session === f.run);
      if (files.length === 0) throw new KoppelError('INVALID_ARGUMENT', `${f.receipt}: no receipt of run ${f.run ?? ''}.`);
      const ca = readTextFile(f.tlsCa, 'TLS CA certificate');
      const options = {
        ...(f.agreement ? { agreementHash: agreementHash(readAgreementFile(f.agreement).agreement) } : {}),
        ...(f.table ? { table: { name: basename(f.table), bytes: readFileSync(f.table) } } : {}),
      };
      let failed = 0;
      for (const file of files) {
        if (files.length > 1) io.out(`receipt of run ${file.receipt.session ?? '-'} (${file.receipt.status}):\n`);
        const check = verifyReceipt(file, ca, options);
        for (const p of check.passed) io.out(`ok: ${p}\n`);
        for (const p of check.problems) io.out(`FAILED: ${p}\n`);
        if (check.problems.length > 0) failed += check.problems.length;
        else io.out(`receipt of ${file.receipt.command} (${file.receipt.role}), session ${file.receipt.session ?? '-'}: valid\n`);
      }
      if (failed > 0) throw new KoppelError('PROOF_INVALID', `${f.receipt}: the receipt does not verify (${failed} problem(s) above).`);
    });
}

/** A receipt file: one JSON receipt, or JSON lines of them (the OPRF service's receipts file). */
function readReceipts(path: string): ReceiptFile[] {
  const text = readTextFile(path, 'receipt');
  const parse = (t: string): ReceiptFile => {
    let file: unknown;
    try {
      file = JSON.parse(t);
    } catch {
      throw new KoppelError('INVALID_ARGUMENT', `${path}: not a JSON receipt.`);
    }
    if (typeof file !== 'object' || file === null || typeof (file as { receipt?: unknown }).receipt !== 'object')
      throw new KoppelError('INVALID_ARGUMENT', `${path}: not a koppel receipt.`);
    return file as ReceiptFile;
  };
  try {
    return [parse(text)];
  } catch (e) {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    if (lines.length < 2) throw e;
    return lines.map(parse);
  }
}
