/**
 * `koppel join groups`, `koppel join values` and `koppel join helper`: the private join
 * and aggregate on CSV files, each party its own process, over mutual TLS (or plain TCP
 * with `--insecure`).
 *
 * @packageDocumentation
 */
import { Option, type Command } from './commander.js';
import { parseDelimiter } from '../csv/records.js';
import { KoppelError } from '../errors/index.js';
import { SUITE_NAMES, type SuiteName } from '../group/suite.js';
import { openJoinGroupsCsv, openJoinValuesCsv, writeJoinTable, type JoinCsv, type JoinCsvOptions } from '../join/csv.js';
import { DEFAULT_MAX_VALUE, DEFAULT_MIN_COUNT, joinGroups, joinHelper, joinValues } from '../join/join.js';
import { DEFAULT_SEARCH_STEPS, MAX_SEARCH_STEPS } from '../join/elgamal.js';
import type { JoinGroupsResult, JoinHelperResult } from '../join/types.js';
import type { Session } from '../session/session.js';
import { JOIN_VARIANTS, MAX_GROUPS, MAX_MIN_COUNT, MAX_VALUE_BOUND, type JoinVariant } from '../join/messages.js';
import { ID_TYPES, type IdType } from '../pseudonymise/normalise.js';
import type { Channel } from '../transport/channel.js';
import { connect, listen } from '../transport/net.js';
import type { PeerIdentity } from '../transport/peer.js';
import { Writable } from 'node:stream';
import { CountedInput, formatCount, openOutput, ProgressLine, writeOutput } from './io.js';
import { VERSION } from '../version.js';
import {
  addNetworkOptions,
  buildReport,
  REPORT_HTML_HELP,
  addReportOptions,
  addRolePinOptions,
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
  parsePercentFlag,
  peerSummary,
  peerText,
  type NetworkSetup,
  progressReporter,
  rolePinFrom,
  sha256Hex,
  summaryLine,
  type NetworkFlags,
  type RejectReport,
  type ReportFlags,
  type RolePinFlags,
} from './common.js';
import { subcommand, withAgreement, type AgreementFlags } from './agreement.js';
import { addReceiptOption, ReceiptRecorder } from './receipt.js';
import type { Console } from './program.js';
import { stopSignal } from './signals.js';

interface CommonFlags extends NetworkFlags, ReportFlags, RolePinFlags, AgreementFlags {
  readonly in?: string;
  readonly idColumn: string;
  readonly variant: JoinVariant;
  readonly helper?: string;
  readonly suite: SuiteName;
  readonly idType: IdType;
  readonly onInvalid: 'error' | 'skip';
  readonly delimiter: string;
  readonly threads?: number;
  readonly report?: string;
  readonly receipt?: string;
}

interface GroupsFlags extends CommonFlags, ListenerFlags {
  readonly listen: string;
  readonly groupColumns: string;
  readonly minCount: number;
  readonly secondary: boolean;
  readonly protection: number;
  readonly valueProtection: number;
  readonly totals?: boolean;
  readonly expectValueColumns?: string;
  readonly padListsTo?: number;
  readonly padGroupsTo?: number;
  readonly maxValue: number;
  readonly maxSearchSteps: number;
  readonly out?: string;
  readonly meta?: string;
  readonly reportHtml?: string;
}

interface ValuesFlags extends CommonFlags {
  readonly connect: string;
  readonly valueColumns: string;
  readonly maxValue: number;
  readonly padTo?: number;
  readonly minCount: number;
  readonly maxLists?: number;
  readonly minListSize?: number;
}

interface HelperFlags extends NetworkFlags, ReportFlags, ListenerFlags, AgreementFlags {
  readonly receipt?: string;
  readonly listen: string;
}

function addCommonOptions(c: Command): Command {
  c.option('--in <file>', 'input CSV with a header row; "-" or absent: stdin')
    .requiredOption('--id-column <name>', 'header name of the identifier column (e.g. bsn)')
    .addOption(
      new Option('--variant <variant>', 'two-party (ElGamal, no third party) or helper (a non-colluding helper; cheaper); both sides must agree')
        .choices(JOIN_VARIANTS)
        .default('two-party'),
    )
    .option('--helper <host:port>', "helper variant: the helper's address")
    .addOption(new Option('--suite <suite>', 'group suite of the blinding layer; both sides must agree').choices(SUITE_NAMES).default('x25519'))
    .addOption(new Option('--id-type <type>', 'identifier normalisation before matching (bsn: 9 digits with the elfproef)').choices(ID_TYPES).default('raw'))
    .addOption(
      new Option('--on-invalid <policy>', 'invalid identifier, value or field count: error = stop, skip = leave the record out')
        .choices(['error', 'skip'])
        .default('error'),
    )
    .option('--report <file>', 'with --on-invalid skip: write the skipped records (record number, code, reason; never values) as CSV')
    .option('--delimiter <d>', 'field delimiter: "," ";" or "tab"', ',');
  return addRolePinOptions(addNetworkOptions(addReportOptions(addThreadsOption(c))), 'helper');
}

/** How the flags say the input CSV is read (skipped records to the `--report` file, if any). */
function csvOptions(flags: CommonFlags, report: RejectReport | undefined): JoinCsvOptions {
  return {
    idColumn: flags.idColumn,
    idType: flags.idType,
    onInvalid: flags.onInvalid,
    delimiter: parseDelimiter(flags.delimiter),
    ...(report ? { onRejected: report.add } : {}),
  };
}

/** Opens a party's input and `--report` file; the report is removed if opening the CSV fails. */
async function openWithReport<T>(
  flags: CommonFlags,
  open: (chunks: AsyncIterable<Uint8Array>, report: RejectReport | undefined) => Promise<JoinCsv<T>>,
  hash = false,
) {
  checkReportFlag(flags);
  const input = new CountedInput(flags.in, { hash });
  const report = openRejectReport(flags.report);
  try {
    const csv = await open(input.chunks(), report);
    report?.follow(csv.style);
    return { input, report, csv };
  } catch (e) {
    await report?.abort();
    throw e;
  }
}

/** Collects what is written to it, for a table that is hashed before it is written out. */
function textSink(): { stream: Writable; text: () => string } {
  const parts: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      parts.push(chunk);
      done();
    },
  });
  return { stream, text: () => Buffer.concat(parts).toString('utf8') };
}

function splitColumns(text: string, flag: string): string[] {
  const names = text.split(',').map((s) => s.trim());
  if (names.length === 0 || names.some((n) => n === '')) throw new KoppelError('INVALID_ARGUMENT', `${flag} must be a comma-separated list of column names.`);
  if (new Set(names).size !== names.length) throw new KoppelError('INVALID_ARGUMENT', `${flag} names a column twice.`);
  return names;
}

/**
 * The helper's pin (`--helper-peer`, apart from `--peer`: the other party's certificate
 * must not stand in for the helper), checked before anyone is contacted.
 */
function helperPin(flags: CommonFlags, network: NetworkSetup): NetworkSetup | undefined {
  if (flags.variant === 'two-party') {
    if (flags.helper) throw new KoppelError('INVALID_ARGUMENT', '--helper is for --variant helper.');
    if (flags.helperPeer !== undefined || flags.helperPeerFingerprint !== undefined)
      throw new KoppelError('INVALID_ARGUMENT', '--helper-peer and --helper-peer-fingerprint are for --variant helper.');
    return undefined;
  }
  if (!flags.helper) throw new KoppelError('INVALID_ARGUMENT', 'The helper variant needs --helper HOST:PORT.');
  const peer = rolePinFrom(flags, network.security, 'helper');
  const { peer: _peer, ...rest } = network;
  return { ...rest, ...(peer === undefined ? {} : { peer }) };
}

async function helperChannel(flags: CommonFlags, network: NetworkSetup | undefined): Promise<Channel | undefined> {
  if (!network || !flags.helper) return undefined;
  const { host, port } = parseHostPort(flags.helper, '--helper');
  return connect({ host, port, ...network, connectTimeoutMs: flags.timeout * 1000, idleTimeoutMs: flags.idleTimeout * 1000 });
}

/** Registers `join groups`, `join values` and `join helper`. */
export function joinCommand(program: Command, io: Console): void {
  const join = program
    .command('join')
    .description("Private join and aggregate: per group of one party, the count and sums of the other party's values over matching records, and nothing else.");

  addListenerOptions(
    addCommonOptions(
      join
        .command('groups')
        .description('Party A: hold (id, group); wait for the value holder and learn, per group, the matched count and the sums of its value columns.')
        .requiredOption('--listen <host:port>', 'address to listen on, e.g. 127.0.0.1:7100')
        .requiredOption('--group-columns <a,b>', 'the columns that form a group (e.g. province,household_type)')
        .option('--min-count <k>', 'threshold rule: suppress entries with fewer than K matched records', parseIntFlag('--min-count', 1, 2 ** 31), 10)
        .option('--no-secondary', 'no secondary suppression (only when no totals will ever be published)')
        .option(
          '--protection <p>',
          "protection level: a small group's count must look able to differ by at least P",
          parseIntFlag('--protection', 1, 2 ** 31),
          1,
        )
        .option(
          '--value-protection <pct>',
          "value protection: a small group's sums must look able to differ by at least PCT% (and one unit)",
          parsePercentFlag('--value-protection'),
          0,
        )
        .option('--totals', 'also write the totals (margins) rows, labelled "*"')
        .option('--expect-value-columns <x,y>', "refuse to run unless the value holder's columns are exactly these")
        .option(
          '--pad-lists-to <n>',
          "pad every group's list to N, so the value holder learns N, not the group sizes",
          parseIntFlag('--pad-lists-to', 1, 2 ** 32 - 1),
        )
        .option(
          '--pad-groups-to <n>',
          `add dummy groups up to N (at most ${MAX_GROUPS}), so the value holder learns N, not the number of groups`,
          parseIntFlag('--pad-groups-to', 1, MAX_GROUPS),
        )
        .option(
          '--max-value <n>',
          `the largest maximum value the value holder may declare (its --max-value); a larger one is refused before any work (at most ${MAX_VALUE_BOUND})`,
          parseIntFlag('--max-value', 0, MAX_VALUE_BOUND),
          DEFAULT_MAX_VALUE,
        )
        .option(
          '--max-search-steps <n>',
          `two-party: giant steps the search for all the sums may take together (default ${DEFAULT_SEARCH_STEPS}, a few seconds); beyond them SUM_OUT_OF_RANGE`,
          parseIntFlag('--max-search-steps', 1, MAX_SEARCH_STEPS),
          DEFAULT_SEARCH_STEPS,
        )
        .option('--out <file>', 'the result table (CSV); "-" or absent: stdout')
        .option('--meta <file>', "also write the run's metadata as JSON: parameters, counts, suppression, peers, times, SHA-256 of input and output")
        .option('--report-html <file>', REPORT_HTML_HELP),
    ),
  )
    .addHelpText(
      'after',
      '\nOutput: one row per group: the group columns, count, sum_<column> per value column, suppressed\n(true rows have empty count and sums) and rule (published, threshold or secondary).',
    )
    .action(async (flags: GroupsFlags) => {
      const network = await checkedNetwork(flags, { io, role: 'join groups' });
      const helperNetwork = helperPin(flags, network);
      const receipts = new ReceiptRecorder(flags, 'join groups', 'groups');
      const { host, port } = parseHostPort(flags.listen, '--listen');
      const groupNames = splitColumns(flags.groupColumns, '--group-columns');
      const expect = flags.expectValueColumns ? splitColumns(flags.expectValueColumns, '--expect-value-columns') : undefined;
      const delimiter = parseDelimiter(flags.delimiter);
      const startedAt = new Date();
      const { input, report, csv } = await openWithReport(
        flags,
        (chunks, rep) => openJoinGroupsCsv(chunks, { ...csvOptions(flags, rep), groupColumns: groupNames }),
        flags.meta !== undefined || flags.reportHtml !== undefined,
      );
      const out = openOutput(flags.out);
      let listener;
      try {
        listener = await listen({ host, port, ...network, ...listenerSetup(io, 'join groups', flags), idleTimeoutMs: flags.idleTimeout * 1000 });
      } catch (e) {
        await out.abort();
        await report?.abort();
        throw e;
      }
      const progress = new ProgressLine(flags.progress);
      // Always announce the address (scripts that listen on port 0 read it here).
      logListening(io, 'join groups', host, listener.port);
      let helper: Channel | undefined;
      try {
        const channel = await listener.acceptReady(flags.timeout * 1000);
        await listener.close();
        helper = await helperChannel(flags, helperNetwork);
        const started = performance.now();
        // The table is rendered before the session closes, so the receipt can name its hash.
        let rendered: { text: string; rows: number; suppressed: number } | undefined;
        const render = (res: JoinGroupsResult) => {
          const sink = textSink();
          const w = writeJoinTable(res, groupNames, sink.stream, { delimiter, style: csv.style, ...(flags.totals ? { totals: true } : {}) });
          return { text: sink.text(), rows: w.rows, suppressed: w.suppressed };
        };
        const r = await joinGroups(channel, csv.records, {
          signal: stopSignal(),
          onSession: receipts.onSession,
          onHelperSession: receipts.onHelperSession,
          beforeClose: async (res) => {
            rendered = render(res);
            await receipts.exchange({
              inputs: { records: csv.recordsRead, skipped: csv.skipped },
              learned: { groups: res.groups.length, releasedRows: rendered.rows, suppressed: rendered.suppressed, valueListSize: res.valuesListSize },
              outputs: [{ path: flags.out ?? '-', text: rendered.text }],
            });
          },
          idType: flags.idType,
          prenormalised: true,
          ...(flags.agreementRun ? { agreement: flags.agreementRun.hash } : {}),
          variant: flags.variant,
          suite: flags.suite,
          groupColumns: groupNames.length,
          threshold: flags.minCount,
          maxValue: flags.maxValue,
          maxSearchSteps: flags.maxSearchSteps,
          secondary: flags.secondary,
          protection: flags.protection,
          valueProtection: flags.valueProtection,
          ...(helper ? { helper } : {}),
          ...(expect ? { expectColumns: expect } : {}),
          ...threadsFor(flags),
          ...(flags.padListsTo === undefined ? {} : { padListsTo: flags.padListsTo }),
          ...(flags.padGroupsTo === undefined ? {} : { padGroupsTo: flags.padGroupsTo }),
          onProgress: progressReporter(progress, 'join groups', input),
        });
        await channel.close();
        progress.done();
        // The table follows the input's byte order mark and line ending (Excel round trips).
        const { text: table, rows: written, suppressed } = rendered ?? render(r);
        const matched = r.groups.reduce((s, g) => s + g.count, 0);
        let meta: Record<string, unknown> | undefined;
        if (flags.meta !== undefined || flags.reportHtml !== undefined) {
          const rows = r.table.filter((row) => flags.totals || !row.total);
          const byRule = (rule: string) => rows.filter((row) => row.rule === rule).length;
          meta = {
            command: 'join groups',
            koppel: VERSION,
            agreement: flags.agreementRun ?? null,
            receipt: receipts.summary,
            startedAt: startedAt.toISOString(),
            finishedAt: new Date().toISOString(),
            parameters: {
              variant: r.variant,
              suite: flags.suite,
              idType: flags.idType,
              onInvalid: flags.onInvalid,
              groupColumns: groupNames,
              valueColumns: r.columns,
              minCount: flags.minCount,
              valueHolderMinCount: r.minCount,
              threshold: r.threshold,
              secondary: flags.secondary,
              protection: flags.protection,
              valueProtection: flags.valueProtection,
              totals: flags.totals === true,
              maxValue: r.maxValue,
              ...(flags.padListsTo === undefined ? {} : { padListsTo: flags.padListsTo }),
              ...(flags.padGroupsTo === undefined ? {} : { padGroupsTo: flags.padGroupsTo }),
            },
            counts: {
              recordsRead: csv.recordsRead,
              records: r.records,
              skipped: csv.skipped,
              matched,
              groups: r.groups.length,
              valueRecords: r.valuesListSize,
              rows: written,
            },
            suppression: { suppressed, threshold: byRule('threshold'), secondary: byRule('secondary'), published: byRule('published') },
            peer: peerSummary(channel.peer),
            ...(helper ? { helperPeer: peerSummary(helper.peer) } : {}),
            inputs: [{ path: flags.in ?? '-', sha256: input.sha256 ?? null, bytes: input.bytesRead }],
            outputs: [{ path: flags.out ?? '-', sha256: sha256Hex(table), bytes: Buffer.byteLength(table) }],
          };
        }
        // The report is built from the table as written and the metadata, before any output is committed.
        const html = flags.reportHtml === undefined ? undefined : await buildReport(table, meta);
        out.stream.write(table);
        await out.commit();
        await report?.commit();
        if (flags.meta !== undefined) writeOutput(flags.meta, JSON.stringify(meta, null, 2) + '\n');
        if (flags.reportHtml !== undefined && html !== undefined) writeOutput(flags.reportHtml, html);
        summaryLine(
          io,
          flags,
          {
            role: 'groups',
            variant: r.variant,
            minCount: r.minCount,
            threshold: r.threshold,
            groups: r.groups.length,
            rows: written,
            suppressed,
            matched,
            records: r.records,
            skipped: csv.skipped,
            valuesListSize: r.valuesListSize,
            columns: r.columns,
            peer: peerSummary(channel.peer),
            ...(helper ? { helperPeer: peerSummary(helper.peer) } : {}),
            elapsedMs: Math.round(performance.now() - started),
          },
          `koppel: join groups (${r.variant}): ${formatCount(r.groups.length)} groups, ${formatCount(matched)} of ${formatCount(r.records)} records matched ` +
            `(${formatCount(csv.skipped)} skipped) against ${formatCount(r.valuesListSize)} value records; ${written} rows written, ${suppressed} suppressed; ` +
            `in ${((performance.now() - started) / 1000).toFixed(2)} s; value holder: ${peerText(channel.peer)}${helper ? `; helper: ${peerText(helper.peer)}` : ''}`,
        );
      } catch (e) {
        await out.abort();
        await report?.abort();
        receipts.failed(e);
        throw e;
      } finally {
        progress.done();
        await listener.close().catch(() => undefined);
        await helper?.close();
      }
    });

  addCommonOptions(
    join
      .command('values')
      .description('Party B: hold (id, values); connect to the group holder, who learns per group the matched count and sums; learn only its list sizes.')
      .requiredOption('--connect <host:port>', "the group holder's address, e.g. 127.0.0.1:7100")
      .requiredOption('--value-columns <x,y>', 'the value columns to sum (non-negative integers)')
      .option(
        '--max-value <n>',
        `declared maximum of any single value (the group holder learns it; at most ${MAX_VALUE_BOUND})`,
        parseIntFlag('--max-value', 0, MAX_VALUE_BOUND),
        DEFAULT_MAX_VALUE,
      )
      .option(
        '--pad-to <n>',
        "pad this side's list with dummies to exactly N, so the group holder learns N, not the true size",
        parseIntFlag('--pad-to', 0, 2 ** 32 - 2),
      )
      .option(
        '--min-count <k>',
        'policy: the group holder learns no sums of a group with fewer than K matches (1: no policy; the helper variant enforces it)',
        parseIntFlag('--min-count', 1, MAX_MIN_COUNT),
        DEFAULT_MIN_COUNT,
      )
      .option('--max-lists <n>', 'policy: refuse a group holder that sends more than N lists', parseIntFlag('--max-lists', 1, MAX_GROUPS))
      .option(
        '--min-list-size <m>',
        'policy: refuse a group holder any of whose lists (groups, as padded) holds fewer than M records',
        parseIntFlag('--min-list-size', 1, 2 ** 27),
      ),
  )
    .addHelpText(
      'after',
      "\nThe value holder learns the sizes of the group holder's lists (or their padding bounds) and nothing else.\n" +
        'The group holder learns no sums of a group with fewer than --min-count matches: it suppresses such rows, and totals over them carry no sums.',
    )
    .action(async (flags: ValuesFlags) => {
      const network = await checkedNetwork(flags, { io, role: 'join values' });
      const receipts = new ReceiptRecorder(flags, 'join values', 'values');
      const helperNetwork = helperPin(flags, network);
      const { host, port } = parseHostPort(flags.connect, '--connect');
      const names = splitColumns(flags.valueColumns, '--value-columns');
      const { input, report, csv } = await openWithReport(flags, (chunks, rep) =>
        openJoinValuesCsv(chunks, { ...csvOptions(flags, rep), valueColumns: names, maxValue: flags.maxValue }),
      );
      const progress = new ProgressLine(flags.progress);
      progress.update(`join values: connecting to ${host}:${port}`);
      // The helper first: the group holder expects this side's HELLO within its handshake
      // deadline of connecting, and waiting for a helper that starts later must not use it up.
      let helper: Channel | undefined;
      let channel: Channel;
      try {
        helper = await helperChannel(flags, helperNetwork);
        channel = await connect({ host, port, ...network, connectTimeoutMs: flags.timeout * 1000, idleTimeoutMs: flags.idleTimeout * 1000 });
      } catch (e) {
        await helper?.close();
        await report?.abort();
        throw e;
      }
      try {
        const started = performance.now();
        const r = await joinValues(channel, csv.records, {
          signal: stopSignal(),
          onSession: receipts.onSession,
          onHelperSession: receipts.onHelperSession,
          beforeClose: (res) =>
            receipts.exchange({
              inputs: { records: res.records, skipped: csv.skipped },
              learned: { lists: res.listSizes.length, listElements: res.listSizes.reduce((x, y) => x + y, 0) },
            }),
          idType: flags.idType,
          prenormalised: true,
          ...(flags.agreementRun ? { agreement: flags.agreementRun.hash } : {}),
          columns: names,
          maxValue: flags.maxValue,
          minCount: flags.minCount,
          ...(flags.maxLists === undefined ? {} : { maxLists: flags.maxLists }),
          ...(flags.minListSize === undefined ? {} : { minListSize: flags.minListSize }),
          variant: flags.variant,
          suite: flags.suite,
          ...(helper ? { helper } : {}),
          ...threadsFor(flags),
          ...(flags.padTo === undefined ? {} : { padTo: flags.padTo }),
          onProgress: progressReporter(progress, 'join values', input),
        });
        progress.done();
        await report?.commit();
        summaryLine(
          io,
          flags,
          {
            role: 'values',
            variant: r.variant,
            minCount: r.minCount,
            ...(flags.maxLists === undefined ? {} : { maxLists: flags.maxLists }),
            ...(flags.minListSize === undefined ? {} : { minListSize: flags.minListSize }),
            records: r.records,
            skipped: csv.skipped,
            lists: r.listSizes.length,
            listElements: r.listSizes.reduce((s, x) => s + x, 0),
            peer: peerSummary(channel.peer),
            ...(helper ? { helperPeer: peerSummary(helper.peer) } : {}),
            elapsedMs: Math.round(performance.now() - started),
          },
          `koppel: join values (${r.variant}): sent ${formatCount(r.records)} records (${formatCount(csv.skipped)} skipped); learned ${formatCount(r.listSizes.length)} list sizes ` +
            `(${formatCount(r.listSizes.reduce((s, x) => s + x, 0))} elements); in ${((performance.now() - started) / 1000).toFixed(2)} s; group holder: ${peerText(channel.peer)}${helper ? `; helper: ${peerText(helper.peer)}` : ''}`,
        );
      } catch (e) {
        await report?.abort();
        receipts.failed(e);
        throw e;
      } finally {
        progress.done();
        await channel.close();
        await helper?.close();
      }
    });

  addListenerOptions(
    addNetworkOptions(
      addReportOptions(
        join
          .command('helper')
          .description('The helper of the helper variant: serve one join session between a group holder and a value holder.')
          .requiredOption('--listen <host:port>', 'address to listen on, e.g. 127.0.0.1:7200'),
      ),
    ),
    'the idle timeout',
  )
    .addHelpText(
      'after',
      "\nThe helper learns the number of groups, the size of the value holder's list and the anonymous\nhistogram of matches per group; nothing else, unless it colludes with a party.",
    )
    .action(async (flags: HelperFlags) => {
      const network = await checkedNetwork(flags, { io, role: 'join helper' });
      const receipts = new ReceiptRecorder(flags, 'join helper', 'helper');
      const { host, port } = parseHostPort(flags.listen, '--listen');
      // The parties say HELLO to the helper only after blinding their records: by default
      // the handshake deadline is the idle timeout, as every other wait for them.
      const listener = await listen({
        host,
        port,
        ...network,
        ...listenerSetup(io, 'join helper', flags, flags.idleTimeout * 1000),
        idleTimeoutMs: flags.idleTimeout * 1000,
      });
      const progress = new ProgressLine(flags.progress);
      logListening(io, 'join helper', host, listener.port);
      try {
        const started = performance.now();
        // The peers of every accepted connection (with a pin, only pinned ones get here).
        const peers: Array<PeerIdentity | undefined> = [];
        const accept = async () => {
          const ch = await listener.acceptReady(flags.timeout * 1000);
          peers.push(ch.peer);
          return ch;
        };
        const r = await joinHelper(accept, {
          onProgress: progressReporter(progress, 'join helper'),
          signal: stopSignal(),
          ...(flags.agreementRun ? { agreement: flags.agreementRun.hash } : {}),
          // The receipt exchange is the last step of both sessions, at once.
          ...(receipts.wanted
            ? {
                beforeClose: async (res: JoinHelperResult, sessions: { groups: Session; values: Session }) => {
                  const learned = { groups: res.groups, positions: res.positions, matched: res.histogram.reduce((x, y) => x + y, 0), withheld: res.withheld };
                  await Promise.all([receipts.exchangeOn(sessions.groups, { learned, order: 0 }), receipts.exchangeOn(sessions.values, { learned, order: 1 })]);
                  receipts.writeSessions({ inputs: {}, learned });
                },
              }
            : {}),
        });
        progress.done();
        summaryLine(
          io,
          flags,
          {
            role: 'helper',
            groups: r.groups,
            positions: r.positions,
            matched: r.histogram.reduce((s, x) => s + x, 0),
            minCount: r.minCount,
            withheld: r.withheld,
            peers: peers.map(peerSummary),
            elapsedMs: Math.round(performance.now() - started),
          },
          `koppel: join helper: served ${formatCount(r.groups)} groups over ${formatCount(r.positions)} positions in ${((performance.now() - started) / 1000).toFixed(2)} s; ` +
            `peers: ${peers.map(peerText).join(', ')}`,
        );
      } catch (e) {
        receipts.failed(e);
        throw e;
      } finally {
        progress.done();
        await listener.close().catch(() => undefined);
      }
    });
  // --agreement FILE: parameters and peers from a signed linking agreement.
  withAgreement(addReceiptOption(subcommand(join, 'groups')), 'groups');
  withAgreement(addReceiptOption(subcommand(join, 'values')), 'values');
  withAgreement(addReceiptOption(subcommand(join, 'helper')), 'helper');
}
