/**
 * `koppel keygen` and `koppel pseudonymise`.
 *
 * @packageDocumentation
 */
import { Option, type Command } from './commander.js';
import { KoppelError } from '../errors/index.js';
import { INVALID_POLICIES, type InvalidPolicy } from '../csv/policy.js';
import { parseDelimiter, type CsvDelimiter, type CsvStyle } from '../csv/records.js';
import { exportKey, generateKey } from '../pseudonymise/key.js';
import { ID_TYPES, type IdType } from '../pseudonymise/normalise.js';
import { pseudonymiseCsv, type PseudonymiseCsvSummary } from '../pseudonymise/csv.js';
import {
  checkDistinct,
  CountedInput,
  formatCount,
  inputChunks,
  isStdio,
  openInput,
  openOutput,
  ProgressLine,
  readKeyFile,
  readTextFile,
  writeSecretFile,
} from './io.js';
import { addReportOptions, addThreadsOption, openRejectReport, parseIntFlag, progressReporter, RejectReport, summaryLine, type ReportFlags } from './common.js';
import type { Console } from './program.js';
import { OprfPseudonymiser } from '../oprf/client.js';
import { oprfPseudonymiseCsv } from '../oprf/csv.js';
import type { OprfMode } from '../oprf/oprf.js';
import type { Writable } from 'node:stream';
import { fileSha256, flagsHash, ResumableOutput, type BatchCommit } from './resume.js';
import { withAgreement, type AgreementFlags } from './agreement.js';
import { addReceiptOption, ReceiptRecorder } from './receipt.js';
import { OPRF_SUITE } from '../oprf/key.js';

/** `--peer` / `--peer-fingerprint` of `pseudonymise --oprf`: the service's certificate, or no pin. */
function servicePinFrom(flags: PseudonymiseFlags): { names?: string[]; fingerprints?: string[] } | undefined {
  const split = (v: string | undefined) =>
    v === undefined
      ? undefined
      : v
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '');
  const names = split(flags.peer);
  const fingerprints = split(flags.peerFingerprint);
  if (names === undefined && fingerprints === undefined) return undefined;
  if (!flags.tlsCa && !flags.oprf?.startsWith('https:'))
    throw new KoppelError('INVALID_ARGUMENT', '--peer and --peer-fingerprint pin the service\u2019s certificate: they need an https:// service.');
  return { ...(names ? { names } : {}), ...(fingerprints ? { fingerprints } : {}) };
}

/** `pseudonymise --oprf URL`: the CSV through the blind pseudonymisation service. */
async function oprfPseudonymise(flags: PseudonymiseFlags, delimiter: CsvDelimiter, io: Console): Promise<void> {
  const token = flags.tokenFile === undefined ? undefined : readTextFile(flags.tokenFile, 'token file').trim();
  const tls = {
    ...(flags.tlsCa ? { ca: readTextFile(flags.tlsCa, 'TLS CA certificate') } : {}),
    ...(flags.tlsCert ? { cert: readTextFile(flags.tlsCert, 'TLS certificate') } : {}),
    ...(flags.tlsKey ? { key: readTextFile(flags.tlsKey, 'TLS key') } : {}),
  };
  const progress = new ProgressLine(flags.progress);
  const counted = new CountedInput(flags.in);
  // The first progress line at once (with the input's size), not after the first batch.
  const onProgress = progressReporter(progress, 'pseudonymise --oprf', counted);
  const receipts = new ReceiptRecorder(flags, 'pseudonymise --oprf', 'client');
  const servicePin = servicePinFrom(flags);
  const client = await OprfPseudonymiser.connect({
    url: flags.oprf as string,
    mode: flags.mode,
    idType: flags.idType,
    batchSize: flags.batchSize,
    concurrency: flags.concurrency,
    tls,
    ...(token ? { token } : {}),
    ...(flags.kid ? { kid: flags.kid } : {}),
    ...(flags.threads === undefined ? {} : { threads: flags.threads }),
    ...(flags.agreementRun ? { agreementHash: flags.agreementRun.hash } : {}),
    ...(servicePin ? { servicePin } : {}),
    ...(receipts.wanted ? { receipt: true } : {}),
    onRetry: (r) => progress.update(`pseudonymise: service unavailable (${r.code}); retry ${r.attempt} in ${r.waitMs} ms`),
  }).catch((e: unknown) => {
    progress.done(); // stops the ticker
    receipts.failed(e);
    throw e;
  });
  receipts.onOprfRun(client);
  // --resume: the service's key id is part of the flags (pseudonyms under two keys never mix in one file).
  let resumable: ResumableOutput | undefined;
  try {
    resumable = await openResumable(flags, delimiter, { path: 'oprf', mode: flags.mode, kid: client.kid });
  } catch (e) {
    progress.done();
    receipts.failed(e);
    await client.close();
    throw e;
  }
  const input = openInput(flags.in);
  const output = resumable ? resumableSink(resumable) : openOutput(flags.out);
  const report = rejectReportFor(flags, resumable);
  let committed = false;
  try {
    const s = await oprfPseudonymiseCsv(counted.wrap(input), output.stream, client, {
      column: flags.column,
      onInvalid: flags.onInvalid,
      delimiter,
      // A file is checked in full first: an invalid record stops the run before any budget is spent.
      ...(isStdio(flags.in) ? {} : { precheck: () => inputChunks(flags.in) }),
      ...(report ? { onRejected: report.add, onStyle: (style: CsvStyle) => report.follow(style) } : {}),
      onProgress: (p) => onProgress({ phase: 'records', done: p.records }),
      ...(resumable?.resume ? { resume: { records: resumable.resume.records } } : {}),
      ...(resumable ? { onCommit: (c: BatchCommit) => resumable?.commit(c), commitRecords: flags.batchSize, inFlight: flags.concurrency + 1 } : {}),
    });
    // The report first: with --resume, committing the output moves both into place.
    await report?.commit();
    await output.commit();
    committed = true;
    progress.done();
    if (receipts.wanted) {
      // The output is complete: the receipt names its SHA-256 (a resumed run: the whole file).
      const outputs = isStdio(flags.out) ? [] : [{ path: flags.out as string, sha256: await fileSha256(flags.out as string) }];
      await receipts.exchangeOprf(client, {
        inputs: {
          records: s.records,
          pseudonymised: s.pseudonymised,
          rejected: s.rejected,
          ...(resumable?.resume ? { resumedAt: resumable.resume.records } : {}),
        },
        learned: { mode: flags.mode, kid: s.kid, suite: OPRF_SUITE },
        outputs,
      });
    }
    const rate = (s.records / Math.max(s.elapsedMs, 1)) * 1000;
    summaryLine(
      io,
      flags,
      { ...s, ...resumedTotals(resumable, s), mode: flags.mode, elapsedMs: Math.round(s.elapsedMs), recordsPerSecond: Math.round(rate) },
      `koppel: pseudonymised ${formatCount(s.pseudonymised)} of ${formatCount(s.records)} records (${formatCount(s.rejected)} rejected) through the OPRF service, key ${s.kid} (${flags.mode}), in ${(s.elapsedMs / 1000).toFixed(2)} s, ${formatCount(rate)} records/s`,
    );
  } catch (e) {
    await output.abort();
    await report?.abort();
    if (committed) io.err('koppel: pseudonymise: the output is complete, but the run has no countersigned receipt.');
    else resumeHint(io, resumable);
    receipts.failed(e);
    throw e;
  } finally {
    progress.done();
    input.destroy();
    await client.close();
  }
}

/**
 * `--resume`: checks the flags that go with it and opens the resumable output over the
 * input's SHA-256 and the flags' hash (`settings`: what else shapes the output).
 */
async function openResumable(
  flags: PseudonymiseFlags,
  delimiter: CsvDelimiter,
  settings: Record<string, string | number | boolean>,
): Promise<ResumableOutput | undefined> {
  if (!flags.resume) return undefined;
  if (isStdio(flags.in) || isStdio(flags.out))
    throw new KoppelError('INVALID_ARGUMENT', '--resume needs --in FILE and --out FILE (a stream cannot be read again or continued).');
  if (flags.report === '-') throw new KoppelError('INVALID_ARGUMENT', '--resume needs --report FILE, not a stream (it is continued too).');
  const hash = flagsHash({ ...settings, column: flags.column, idType: flags.idType, onInvalid: flags.onInvalid, delimiter });
  return ResumableOutput.open(flags.out as string, await fileSha256(flags.in as string), hash, flags.report);
}

/** `--report`: its own output, or with `--resume` the resumable run's partial report. */
function rejectReportFor(flags: PseudonymiseFlags, r: ResumableOutput | undefined): RejectReport | undefined {
  const resumed = r?.report;
  if (resumed) return new RejectReport(resumed.sink, resumed.started);
  return openRejectReport(flags.report);
}

/** The resumable output in the shape of `openOutput`'s: commit renames it into place, abort keeps it for `--resume`. */
function resumableSink(r: ResumableOutput): { stream: Writable; commit: () => Promise<void>; abort: () => Promise<void> } {
  return {
    stream: r.stream,
    commit: () => Promise.resolve(r.finish()),
    abort: () => Promise.resolve(r.close()),
  };
}

/** A resumed run's summary counts every run's records, not just this one's. */
function resumedTotals(
  r: ResumableOutput | undefined,
  s: { pseudonymised: number; rejected: number },
): { pseudonymised: number; rejected: number; resumedAt?: number } {
  if (!r?.resume) return { pseudonymised: s.pseudonymised, rejected: s.rejected };
  return { pseudonymised: s.pseudonymised + r.resume.pseudonymised, rejected: s.rejected + r.resume.rejected, resumedAt: r.resume.records };
}

/** After a failed `--resume` run: where it can continue from. */
function resumeHint(io: Console, r: ResumableOutput | undefined): void {
  if (r) io.err('koppel: pseudonymise: the output committed so far is kept; run the same command again (with --resume) to continue.');
}

interface KeygenFlags {
  readonly out?: string;
  readonly label?: string;
  readonly force?: boolean;
}

interface PseudonymiseFlags extends ReportFlags, AgreementFlags {
  readonly receipt?: string;
  readonly peer?: string;
  readonly peerFingerprint?: string;
  readonly key?: string;
  readonly domain?: string;
  readonly oprf?: string;
  readonly kid?: string;
  readonly mode: OprfMode;
  readonly tokenFile?: string;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly column: string;
  readonly idType: IdType;
  readonly in?: string;
  readonly out?: string;
  readonly onInvalid: InvalidPolicy;
  readonly report?: string;
  readonly delimiter: string;
  readonly threads?: number;
  readonly resume?: boolean;
}

/** Registers `keygen`. */
export function keygenCommand(program: Command, io: Console): void {
  program
    .command('keygen')
    .description('Generate a pseudonymisation master key (32 random bytes) as a JSON key file.')
    .option('--out <file>', 'where to write the key (mode 0600); "-" or absent: stdout')
    .option('--label <label>', 'a human label stored with the key, e.g. cbs-2026')
    .option('--force', 'replace an existing key file')
    .addHelpText('after', '\nThe key id printed on stderr is a fingerprint of the key; pseudonyms start with it.')
    .action(async (flags: KeygenFlags) => {
      const key = generateKey(flags.label === undefined ? {} : { label: flags.label });
      const json = exportKey(key);
      key.destroy();
      if (isStdio(flags.out)) io.out(json);
      else await writeSecretFile(flags.out as string, json, flags.force === true);
      io.err(`koppel: generated key ${key.kid}${isStdio(flags.out) ? '' : ` in ${flags.out}`}`);
    });
}

/** Registers `pseudonymise`. */
export function pseudonymiseCommand(program: Command, io: Console): void {
  const command = program
    .command('pseudonymise')
    .alias('pseudonymize')
    .description(
      'Replace one CSV column with keyed pseudonyms (HMAC-SHA256 under a per-domain key), streaming, on all cores; or with blind pseudonyms from an OPRF service (--oprf).',
    )
    .option('--key <file>', 'key file from `koppel keygen` (keyed pseudonymisation)')
    .option('--domain <name>', 'pseudonymisation domain, e.g. cbs/2026/logius-link; other domains give unrelated pseudonyms')
    .option('--oprf <url>', 'blind pseudonymisation by the OPRF service at URL (instead of --key/--domain)')
    .option('--kid <id>', "--oprf: pin this key id (default: the service's current key)")
    .addOption(new Option('--mode <mode>', "--oprf: voprf checks the service's proofs; oprf does not").choices(['voprf', 'oprf']).default('voprf'))
    .option('--token-file <file>', "--oprf: file holding this client's bearer token")
    .option('--tls-ca <file>', "--oprf: CA of the service's certificate")
    .option('--tls-cert <file>', '--oprf: client certificate for mutual TLS')
    .option('--tls-key <file>', '--oprf: client key for mutual TLS')
    .option('--batch-size <n>', '--oprf: identifiers per request', parseIntFlag('--batch-size', 1, 10_000), 1000)
    .option('--concurrency <n>', '--oprf: requests in flight', parseIntFlag('--concurrency', 1, 64), 4)
    .option('--peer <names>', '--oprf: accept only a service certificate with one of these names (CN or DNS/IP subjectAltName), comma-separated')
    .option('--peer-fingerprint <hex>', '--oprf: accept only a service certificate with one of these SHA-256 fingerprints, comma-separated')
    .requiredOption('--column <name>', 'header name of the identifier column to replace')
    .addOption(new Option('--id-type <type>', 'how identifiers are normalised before hashing').choices(ID_TYPES).default('raw'))
    .option('--in <file>', 'input CSV with a header row; "-" or absent: stdin')
    .option('--out <file>', 'output CSV, written atomically; "-" or absent: stdout')
    .addOption(
      new Option(
        '--on-invalid <policy>',
        'invalid identifier or field count: error = stop (no output file), skip = drop the record, report = keep it with an empty identifier',
      )
        .choices(INVALID_POLICIES)
        .default('error'),
    )
    .option('--report <file>', 'write rejected records (record number, code, reason; never values) as CSV')
    .option('--delimiter <d>', 'field delimiter: "," ";" or "tab"', ',')
    .option(
      '--resume',
      'keep an interrupted run resumable (OUT.koppel-partial and OUT.koppel-resume, committed per batch) and continue one: nothing done is redone; needs --in and --out files',
    );
  withAgreement(addReceiptOption(command), 'client', 'oprf');
  addReportOptions(addThreadsOption(command))
    .addHelpText(
      'after',
      `
Output: the same CSV with the identifier column replaced by "<key id>.<43 base64url characters>".
Records are numbered from 1 after the header; blank lines are skipped. Errors and reports name
record numbers and reasons, never identifier values.

Example:
  koppel pseudonymise --key cbs.key --domain cbs/2026/logius-link --column bsn --id-type bsn \\
    --in persons.csv --out persons.pseud.csv --on-invalid report --report rejected.csv`,
    )
    .action(async (flags: PseudonymiseFlags) => {
      const delimiter = parseDelimiter(flags.delimiter);
      checkDistinct(flags.in, flags.out);
      if (flags.report !== undefined && flags.onInvalid === 'error') {
        throw new KoppelError('INVALID_ARGUMENT', '--report needs --on-invalid skip or report (with error, the first invalid record stops the run).');
      }
      if (
        flags.oprf === undefined &&
        (flags.agreement !== undefined || flags.receipt !== undefined || flags.peer !== undefined || flags.peerFingerprint !== undefined)
      )
        throw new KoppelError(
          'INVALID_ARGUMENT',
          '--agreement, --receipt, --peer and --peer-fingerprint are for a run through the OPRF service (--oprf URL); keyed pseudonymisation contacts no one.',
        );
      if (flags.oprf !== undefined) {
        if (flags.key !== undefined || flags.domain !== undefined)
          throw new KoppelError('INVALID_ARGUMENT', 'Use either --oprf or --key with --domain, not both.');
        await oprfPseudonymise(flags, delimiter, io);
        return;
      }
      if (flags.key === undefined || flags.domain === undefined)
        throw new KoppelError('INVALID_ARGUMENT', 'Keyed pseudonymisation needs --key and --domain (or use --oprf URL).');
      const domain = flags.domain;
      const key = await readKeyFile(flags.key, io.err);
      let resumable: ResumableOutput | undefined;
      try {
        resumable = await openResumable(flags, delimiter, { path: 'keyed', domain, kid: key.kid });
      } catch (e) {
        key.destroy();
        throw e;
      }
      const input = openInput(flags.in);
      const counted = new CountedInput(flags.in);
      const output = resumable ? resumableSink(resumable) : openOutput(flags.out);
      const report = rejectReportFor(flags, resumable);
      const progress = new ProgressLine(flags.progress);
      const onProgress = progressReporter(progress, 'pseudonymise', counted);
      let summary: PseudonymiseCsvSummary;
      try {
        summary = await pseudonymiseCsv(counted.wrap(input), output.stream, {
          key,
          domain,
          column: flags.column,
          idType: flags.idType,
          onInvalid: flags.onInvalid,
          delimiter,
          ...(flags.threads === undefined ? {} : { threads: flags.threads }),
          ...(report ? { onRejected: report.add, onStyle: (style: CsvStyle) => report.follow(style) } : {}),
          onProgress: (p) => onProgress({ phase: 'records', done: p.records }),
          ...(resumable?.resume ? { resume: { records: resumable.resume.records, inputBytes: resumable.resume.inputBytes } } : {}),
          ...(resumable ? { onCommit: (c: BatchCommit) => resumable?.commit(c) } : {}),
        });
        // The report first: with --resume, committing the output moves both into place.
        await report?.commit();
        await output.commit();
      } catch (e) {
        await output.abort();
        await report?.abort();
        resumeHint(io, resumable);
        throw e;
      } finally {
        progress.done();
        key.destroy();
        input.destroy();
      }
      const rate = (summary.records / Math.max(summary.elapsedMs, 1)) * 1000;
      summaryLine(
        io,
        flags,
        { ...summary, ...resumedTotals(resumable, summary), elapsedMs: Math.round(summary.elapsedMs) },
        [
          `koppel: pseudonymised ${formatCount(summary.pseudonymised)} of ${formatCount(summary.records)} records` +
            ` (${formatCount(summary.rejected)} rejected) in ${(summary.elapsedMs / 1000).toFixed(2)} s, ${formatCount(rate)} records/s, ${summary.threads} threads`,
          ...Object.entries(summary.rejectedByReason).map(([reason, n]) => `koppel:   rejected ${reason}: ${formatCount(n)}`),
        ].join('\n'),
      );
    });
}
