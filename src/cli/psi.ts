/**
 * `koppel psi serve` and `koppel psi connect`: the two parties of ECDH-PSI on CSV files,
 * over mutual TLS (or plain TCP with `--insecure`).
 *
 * @packageDocumentation
 */
import { rmSync } from 'node:fs';
import { Option, type Command } from './commander.js';
import { KoppelError } from '../errors/index.js';
import { parseDelimiter } from '../csv/records.js';
import { SUITE_NAMES, type SuiteName } from '../group/suite.js';
import { ID_TYPES, type IdType } from '../pseudonymise/normalise.js';
import { openPsiClientCsv, openPsiServerCsv, psiMatchCount, writePsiMatches, type PsiCsvOptions } from '../psi/csv.js';
import { PSI_MODES, type PsiMode } from '../psi/messages.js';
import { DEFAULT_MAX_CLIENT_ELEMENTS, psiClient, psiServer } from '../psi/psi.js';
import { connect, listen } from '../transport/net.js';
import { CountedInput, formatCount, inputChunks, isStdio, openOutput, ProgressLine } from './io.js';
import {
  addNetworkOptions,
  addReportOptions,
  addThreadsOption,
  checkedNetwork,
  logListening,
  openRejectReport,
  checkReportFlag,
  threadsFor,
  addListenerOptions,
  listenerSetup,
  type ListenerFlags,
  parseHostPort,
  parseIntFlag,
  peerSummary,
  peerText,
  progressReporter,
  summaryLine,
  type NetworkFlags,
  type RejectReport,
  type ReportFlags,
} from './common.js';
import { subcommand, withAgreement, type AgreementFlags } from './agreement.js';
import { addReceiptOption, ReceiptRecorder } from './receipt.js';
import type { Console } from './program.js';
import { stopSignal } from './signals.js';

interface CommonFlags extends NetworkFlags, ReportFlags, AgreementFlags {
  readonly in?: string;
  readonly column: string;
  readonly mode: PsiMode;
  readonly suite: SuiteName;
  readonly idType: IdType;
  readonly onInvalid: 'error' | 'skip';
  readonly delimiter: string;
  readonly threads?: number;
  readonly padTo?: number;
  readonly report?: string;
  readonly receipt?: string;
}

interface ServeFlags extends CommonFlags, ListenerFlags {
  readonly listen: string;
  readonly payloadColumns?: string;
  readonly payloadBytes?: number;
  readonly maxClientElements: number;
}

interface ConnectFlags extends CommonFlags {
  readonly connect: string;
  readonly out?: string;
}

function addCommonOptions(c: Command): Command {
  c.option('--in <file>', 'input CSV with a header row; "-" or absent: stdin')
    .requiredOption('--column <name>', 'header name of the identifier column')
    .addOption(new Option('--mode <mode>', 'what the connecting party learns; both sides must agree').choices(PSI_MODES).default('intersection'))
    .addOption(new Option('--suite <suite>', 'group suite; both sides must agree').choices(SUITE_NAMES).default('x25519'))
    .addOption(new Option('--id-type <type>', 'identifier normalisation before matching').choices(ID_TYPES).default('raw'))
    .addOption(
      new Option('--on-invalid <policy>', 'invalid identifier or field count: error = stop, skip = leave the record out')
        .choices(['error', 'skip'])
        .default('error'),
    )
    .option('--report <file>', 'with --on-invalid skip: write the skipped records (record number, code, reason; never values) as CSV')
    .option('--delimiter <d>', 'field delimiter: "," ";" or "tab"', ',');
  addThreadsOption(c).option(
    '--pad-to <n>',
    "pad this side's set with dummies to exactly N, so the peer learns N, not the true size",
    parseIntFlag('--pad-to', 0, 2 ** 32 - 1),
  );
  return addNetworkOptions(addReportOptions(c));
}

/** How the flags say the input CSV is read (skipped records to the `--report` file, if any). */
function csvOptions(flags: CommonFlags, report: RejectReport | undefined): PsiCsvOptions {
  return {
    column: flags.column,
    idType: flags.idType,
    onInvalid: flags.onInvalid,
    delimiter: parseDelimiter(flags.delimiter),
    ...(report ? { onRejected: report.add } : {}),
  };
}

/** Registers `psi serve` and `psi connect`. */
export function psiCommand(program: Command, io: Console): void {
  const psi = program.command('psi').description('Private set intersection (ECDH, OPRF style) between two parties over the network.');

  addListenerOptions(
    addCommonOptions(
      psi
        .command('serve')
        .description('Serve one PSI session: wait for the connecting party, answer, and learn only the size of its set.')
        .requiredOption('--listen <host:port>', 'address to listen on, e.g. 127.0.0.1:7000')
        .option('--payload-columns <a,b>', 'payload mode: columns sent (encrypted) to the connecting party for matching records')
        .option(
          '--payload-bytes <n>',
          'payload mode: pad every payload to N bytes (default: the longest, which the peer learns)',
          parseIntFlag('--payload-bytes', 0, 65535),
        )
        .option(
          '--max-client-elements <n>',
          'refuse a client that sends more elements than this (LIMIT_EXCEEDED)',
          parseIntFlag('--max-client-elements', 1, 2 ** 31),
          DEFAULT_MAX_CLIENT_ELEMENTS,
        ),
    ),
  )
    .addHelpText('after', "\nThe server learns the size of the client's set (or its --pad-to bound) and nothing else.")
    .action(async (flags: ServeFlags) => {
      const network = await checkedNetwork(flags, { io, role: 'psi serve' });
      const receipts = new ReceiptRecorder(flags, 'psi serve', 'server');
      const { host, port } = parseHostPort(flags.listen, '--listen');
      if (flags.mode === 'payload' && !flags.payloadColumns) throw new KoppelError('INVALID_ARGUMENT', 'Payload mode needs --payload-columns.');
      if (flags.mode !== 'payload' && flags.payloadColumns) throw new KoppelError('INVALID_ARGUMENT', '--payload-columns is for --mode payload.');
      checkReportFlag(flags);
      const names = flags.payloadColumns?.split(',').map((s) => s.trim());
      const input = new CountedInput(flags.in);
      const report = openRejectReport(flags.report);
      // Opened before any network activity: a wrong column fails first.
      let csv;
      try {
        csv = await openPsiServerCsv(input.chunks(), {
          ...csvOptions(flags, report),
          ...(flags.mode === 'payload' && names ? { payloadColumns: names } : {}),
        });
        report?.follow(csv.style);
      } catch (e) {
        await report?.abort();
        throw e;
      }
      let listener;
      try {
        listener = await listen({ host, port, ...network, ...listenerSetup(io, 'psi serve', flags), idleTimeoutMs: flags.idleTimeout * 1000 });
      } catch (e) {
        await report?.abort();
        throw e;
      }
      const progress = new ProgressLine(flags.progress);
      // Always announce the address, with the port chosen (scripts that listen on port 0 read it here).
      logListening(io, 'psi serve', host, listener.port);
      try {
        const channel = await listener.acceptReady(flags.timeout * 1000);
        await listener.close();
        const started = performance.now();
        const r = await psiServer(channel, csv.items, {
          signal: stopSignal(),
          onSession: receipts.onSession,
          beforeClose: (res) =>
            receipts.exchange({ inputs: { records: csv.recordsRead, skipped: csv.skipped }, learned: { clientSetSize: res.clientSetSize } }),
          mode: flags.mode,
          suite: flags.suite,
          idType: flags.idType,
          prenormalised: true,
          ...(flags.agreementRun ? { agreement: flags.agreementRun.hash } : {}),
          ...threadsFor(flags),
          ...(flags.padTo === undefined ? {} : { padTo: flags.padTo }),
          ...(flags.payloadBytes === undefined ? {} : { payloadBytes: flags.payloadBytes }),
          maxClientElements: flags.maxClientElements,
          onProgress: progressReporter(progress, 'psi serve', input),
        });
        await channel.close();
        progress.done();
        await report?.commit();
        summaryLine(
          io,
          flags,
          {
            role: 'server',
            mode: flags.mode,
            suite: flags.suite,
            serverSetSize: r.serverSetSize,
            clientSetSize: r.clientSetSize,
            skipped: csv.skipped,
            peer: peerSummary(channel.peer),
            elapsedMs: Math.round(performance.now() - started),
          },
          `koppel: psi serve (${flags.mode}, ${flags.suite}): served ${formatCount(r.serverSetSize)} distinct items (${formatCount(csv.skipped)} records skipped) ` +
            `to a client set of ${formatCount(r.clientSetSize)} in ${((performance.now() - started) / 1000).toFixed(2)} s; ${peerText(channel.peer)}`,
        );
      } catch (e) {
        await report?.abort();
        receipts.failed(e);
        throw e;
      } finally {
        progress.done();
        await listener.close().catch(() => undefined);
      }
    });

  addCommonOptions(
    psi
      .command('connect')
      .description("Connect to a PSI server and learn the intersection, its size, or the server's payloads for matching records.")
      .requiredOption('--connect <host:port>', "the server's address, e.g. 127.0.0.1:7000")
      .option('--out <file>', 'output: matching input records (intersection, payload) or {"cardinality": N}; "-" or absent: stdout'),
  )
    .addHelpText(
      'after',
      '\nintersection: the input records whose identifier is in both sets; payload: the same with the\nserver\'s payload columns appended; cardinality: {"cardinality": N} only.',
    )
    .action(async (flags: ConnectFlags) => {
      const network = await checkedNetwork(flags, { io, role: 'psi connect' });
      const receipts = new ReceiptRecorder(flags, 'psi connect', 'client');
      const { host, port } = parseHostPort(flags.connect, '--connect');
      checkReportFlag(flags);
      const input = new CountedInput(flags.in);
      const report = openRejectReport(flags.report);
      // A file is read twice (identifiers now, matching records at the end) so only
      // the identifiers stay in memory; stdin cannot be re-read, so its records are kept.
      let csv;
      try {
        csv = await openPsiClientCsv(input.chunks(), { ...csvOptions(flags, report), keepRecords: isStdio(flags.in) });
        report?.follow(csv.style);
      } catch (e) {
        await report?.abort();
        throw e;
      }
      const progress = new ProgressLine(flags.progress);
      progress.update(`psi connect: connecting to ${host}:${port}`);
      let channel;
      try {
        channel = await connect({ host, port, ...network, connectTimeoutMs: flags.timeout * 1000, idleTimeoutMs: flags.idleTimeout * 1000 });
      } catch (e) {
        await report?.abort();
        throw e;
      }
      const started = performance.now();
      let result: Awaited<ReturnType<typeof psiClient>>;
      // With --receipt the output is written before the session closes, so the receipt names its hash.
      const out = openOutput(flags.out);
      let renamed: ReadonlyArray<{ readonly from: string; readonly to: string }> = [];
      let written: number | undefined;
      const writeMatches = async (res: typeof result): Promise<number> => {
        const n = await writePsiMatches(res, csv, out.stream, {
          idType: flags.idType,
          delimiter: parseDelimiter(flags.delimiter),
          ...(csv.kept ? {} : { reread: inputChunks(flags.in) }),
          onRenamed: (r) => (renamed = r),
        });
        await out.commit();
        return n;
      };
      try {
        result = await psiClient(channel, csv.ids, {
          signal: stopSignal(),
          onSession: receipts.onSession,
          ...(receipts.wanted
            ? {
                beforeClose: async (res: typeof result) => {
                  written = await writeMatches(res);
                  await receipts.exchange({
                    inputs: { records: csv.recordsRead, skipped: csv.skipped },
                    learned: { intersectionSize: psiMatchCount(res), serverSetSize: res.serverSetSize },
                    outputs: isStdio(flags.out) ? [] : [{ path: flags.out as string }],
                  });
                },
              }
            : {}),
          mode: flags.mode,
          suite: flags.suite,
          idType: flags.idType,
          prenormalised: true,
          ...(flags.agreementRun ? { agreement: flags.agreementRun.hash } : {}),
          ...threadsFor(flags),
          ...(flags.padTo === undefined ? {} : { padTo: flags.padTo }),
          onProgress: progressReporter(progress, 'psi connect', input),
        });
      } catch (e) {
        await out.abort();
        // The output was committed before a receipt exchange that then failed: a failed run leaves none.
        if (written !== undefined && !isStdio(flags.out)) rmSync(flags.out as string, { force: true });
        await report?.abort();
        receipts.failed(e);
        throw e;
      } finally {
        progress.done();
        await channel.close();
      }
      try {
        written ??= await writeMatches(result);
        await report?.commit();
        const what = result.mode === 'cardinality' ? `intersection size ${formatCount(result.size)}` : `${formatCount(written)} matching records`;
        const renamedText = renamed.length === 0 ? '' : `; payload columns also in the input renamed: ${renamed.map((r) => `${r.from} -> ${r.to}`).join(', ')}`;
        summaryLine(
          io,
          flags,
          {
            role: 'client',
            mode: flags.mode,
            suite: flags.suite,
            intersectionSize: psiMatchCount(result),
            recordsWritten: written,
            serverSetSize: result.serverSetSize,
            skipped: csv.skipped,
            ...(result.mode === 'payload' ? { renamedPayloadColumns: renamed } : {}),
            peer: peerSummary(channel.peer),
            elapsedMs: Math.round(performance.now() - started),
          },
          `koppel: psi connect (${flags.mode}, ${flags.suite}): ${what}; ${formatCount(csv.recordsRead - csv.skipped)} records read (${formatCount(csv.skipped)} skipped), ` +
            `server set ${formatCount(result.serverSetSize)}, in ${((performance.now() - started) / 1000).toFixed(2)} s; ${peerText(channel.peer)}${renamedText}`,
        );
      } catch (e) {
        await out.abort();
        await report?.abort();
        throw e;
      }
    });
  // --agreement FILE: parameters and peers from a signed linking agreement.
  withAgreement(addReceiptOption(subcommand(psi, 'serve')), 'server');
  withAgreement(addReceiptOption(subcommand(psi, 'connect')), 'client');
}
