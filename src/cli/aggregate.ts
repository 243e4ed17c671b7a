/**
 * `koppel aggregate input | aggregator | collect`: each role of a secret-sharing
 * aggregation round as its own process, over mutual TLS (or `--insecure`).
 *
 * All roles read the same round file (JSON): round id, codebook, number of
 * aggregators, minimum inputs, deadline and noise.
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from './commander.js';
import { isLeft, t } from '../util/cjs.js';
import { KoppelError } from '../errors/index.js';
import { makeCodebook, CodebookCodec } from '../aggregate/codebook.js';
import { checkPTable, DEFAULT_PTABLE, type PTable } from '../disclosure/index.js';
import { checkCellKeyOptions } from '../disclosure/table.js';
import { formatFixed } from '../aggregate/ring.js';
import { Aggregator, collect, submitInput, type RoundConfig } from '../aggregate/round.js';
import { RecordKeyer, Tabulator } from '../aggregate/tabulate.js';
import { POLICY_WORDING, RecordPolicy } from '../csv/policy.js';
import { openCsv } from '../csv/reader.js';
import { columnIndex, formatRecord, parseDelimiter } from '../csv/records.js';
import { connect, listen } from '../transport/net.js';
import type { Channel } from '../transport/channel.js';
import { fromHex, randomBytes } from '../util/bytes.js';
import { describeErrors, intRange } from '../wire/codec.js';
import { formatCount, inputChunks, readTextFile, writeOutput } from './io.js';
import {
  addListenerOptions,
  addNetworkOptions,
  buildReport,
  REPORT_HTML_HELP,
  addRolePinOptions,
  checkedNetwork,
  listenerSetup,
  logListening,
  parseHostPort,
  parseIntFlag,
  parsePercentFlag,
  peerSummary,
  peerText,
  rolePinFrom,
  sha256Hex,
  type ListenerFlags,
  type NetworkFlags,
  type RolePinFlags,
} from './common.js';
import { subcommand, withAgreement, type AgreementFlags } from './agreement.js';
import { addReceiptOption, ReceiptRecorder } from './receipt.js';
import type { Session } from '../session/session.js';
import type { RoundResult } from '../aggregate/round.js';
import type { Console } from './program.js';
import { stopSignal } from './signals.js';

const Noise = t.union([
  t.exact(t.type({ distribution: t.literal('none') })),
  t.exact(t.type({ distribution: t.literal('laplace'), scale: t.number })),
  t.exact(t.type({ distribution: t.literal('gaussian'), sigma2: t.number })),
]);
const RoundFile = t.exact(
  t.intersection([
    t.type({ round: t.string, codebook: CodebookCodec, aggregators: intRange(2, 64), minInputs: intRange(1, 1_000_000), deadline: t.string }),
    t.partial({ noise: Noise, parties: t.array(t.exact(t.type({ id: t.string, peer: t.string }))) }),
  ]),
  'RoundFile',
);

/**
 * A value's `min` or `max` written as a JSON number (`"min": 0`) becomes the decimal
 * string the codebook takes (`"0"`); strings stay as they are. Only plain decimals
 * convert: a number JSON cannot give back exactly as written (1e21, 0.1 + 0.2 style
 * binary fractions beyond 15 digits) is left for the codebook to refuse.
 */
function decimalsAsStrings(json: unknown): unknown {
  if (typeof json !== 'object' || json === null) return json;
  const codebook = (json as { codebook?: unknown }).codebook;
  if (typeof codebook !== 'object' || codebook === null) return json;
  const values = (codebook as { values?: unknown }).values;
  if (!Array.isArray(values)) return json;
  const text = (x: unknown) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) return x;
    const s = String(x);
    return /^-?\d{1,15}(\.\d{1,15})?$/.test(s) ? s : x;
  };
  const converted = values.map((v: unknown) =>
    typeof v === 'object' && v !== null ? { ...v, min: text((v as { min?: unknown }).min), max: text((v as { max?: unknown }).max) } : v,
  );
  return { ...json, codebook: { ...codebook, values: converted } };
}

/**
 * Reads and checks a round file. `min` and `max` of a value column may be JSON
 * numbers or decimal strings. An error names this file (it is the local one, not a
 * peer's).
 */
export function readRoundFile(path: string): RoundConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new KoppelError('INVALID_ARGUMENT', `Cannot read the round file "${path}" as JSON.`, { details: { path }, cause: e });
  }
  // An aggregation agreement carries its round: --round may name the agreement file.
  const inner = (json as { agreement?: { koppelAgreement?: unknown; round?: unknown } } | null)?.agreement;
  if (inner?.koppelAgreement !== undefined) json = inner.round;
  const decoded = RoundFile.decode(decimalsAsStrings(json));
  if (isLeft(decoded)) {
    throw new KoppelError(
      'INVALID_ARGUMENT',
      `The round file "${path}" is malformed (${describeErrors(decoded.left)}); see docs/cli.md and examples/round.json.`,
      {
        details: { path },
      },
    );
  }
  const f = decoded.right;
  const deadline = Date.parse(f.deadline);
  if (Number.isNaN(deadline))
    throw new KoppelError('INVALID_ARGUMENT', `The deadline in the round file "${path}" must be an ISO 8601 time.`, { details: { path } });
  let codebook;
  try {
    codebook = makeCodebook(f.codebook);
  } catch (e) {
    if (!(e instanceof KoppelError)) throw e;
    throw new KoppelError(e.code, `The round file "${path}" has a codebook koppel cannot use: ${e.message}`, { details: { ...e.details, path }, cause: e });
  }
  return {
    round: f.round,
    codebook,
    aggregators: f.aggregators,
    minInputs: f.minInputs,
    deadline,
    ...(f.noise ? { noise: f.noise } : {}),
    ...(f.parties ? { parties: f.parties } : {}),
  };
}

/** Reads a `--cell-key` p-table file as JSON (checked by `checkPTable`); not JSON is a usage error naming the file. */
function readPTableFile(path: string): PTable {
  const text = readTextFile(path, 'p-table file');
  try {
    return JSON.parse(text) as PTable;
  } catch (e) {
    throw new KoppelError('INVALID_ARGUMENT', `The p-table file "${path}" is not JSON.`, { details: { path }, cause: e });
  }
}

interface RoleFlags extends NetworkFlags, AgreementFlags {
  readonly round: string;
}

function withRound(c: Command): Command {
  return addNetworkOptions(c.requiredOption('--round <file>', 'the round file (JSON) every party shares'));
}

/** A key column's text as a number; anything but 1 to 3 digits becomes NaN, which the tabulator refuses. */
function cellKeyOf(text: string): number {
  return /^[0-9]{1,3}$/.test(text) ? Number(text) : Number.NaN;
}

function parseList(text: string, flag: string): Array<{ host: string; port: number }> {
  return text.split(',').map((s) => parseHostPort(s.trim(), flag));
}

/** Registers `aggregate input`, `aggregate aggregator` and `aggregate collect`. */
export function aggregateCommand(program: Command, io: Console): void {
  const agg = program
    .command('aggregate')
    .description('Secret-shared aggregation: sums, counts and tables over many parties, released with disclosure control.');

  withRound(
    agg
      .command('input')
      .description('Input party: tabulate a CSV of records by the codebook and send one share to each aggregator.')
      .requiredOption('--party <id>', "this party's id (unique in the round)")
      .requiredOption('--aggregators <host:port,...>', 'the aggregators, in index order')
      .option('--in <file>', 'records: one column per codebook dimension and value column; "-" or absent: stdin')
      .option('--key-column <name>', "a column holding each record's cell key (0..255)")
      .option('--id-column <name>', "derive each record's cell key from this identifier column and --cell-key-secret")
      .option('--cell-key-secret <file>', 'a file with the 32-byte hex secret the input parties share for cell keys')
      .option('--delimiter <d>', 'field delimiter: "," ";" or "tab"', ','),
  ).action(
    async (
      flags: RoleFlags & { party: string; aggregators: string; in?: string; keyColumn?: string; idColumn?: string; cellKeySecret?: string; delimiter: string },
    ) => {
      const config = readRoundFile(flags.round);
      const network = await checkedNetwork(flags, { io, role: 'aggregate input' });
      const receipts = new ReceiptRecorder(flags, 'aggregate input', 'input');
      const addrs = parseList(flags.aggregators, '--aggregators');
      if (addrs.length !== config.aggregators)
        throw new KoppelError('INVALID_ARGUMENT', `The round has ${config.aggregators} aggregators; --aggregators lists ${addrs.length}.`);
      if ((flags.idColumn === undefined) !== (flags.cellKeySecret === undefined))
        throw new KoppelError('INVALID_ARGUMENT', '--id-column and --cell-key-secret go together.');
      const keyer = flags.cellKeySecret ? readCellKeyer(flags.cellKeySecret) : undefined;
      const tab = new Tabulator(config.codebook);
      try {
        const csv = await openCsv(inputChunks(flags.in), parseDelimiter(flags.delimiter));
        const dimCols = config.codebook.spec.dimensions.map((d) => columnIndex(csv.header, d.name));
        const valCols = config.codebook.spec.values.map((v) => columnIndex(csv.header, v.name));
        const keyCol = flags.keyColumn ? columnIndex(csv.header, flags.keyColumn) : undefined;
        const idCol = flags.idColumn ? columnIndex(csv.header, flags.idColumn) : undefined;
        // Records go straight into the tabulator: constant memory for any number of rows.
        const layout = { cells: dimCols, values: valCols };
        // Every record counts in the table: one with the wrong field count stops the run.
        const policy = new RecordPolicy({ fields: csv.header.length, policy: 'error', wording: POLICY_WORDING.strict });
        for await (const b of csv.batches) {
          const rows = policy.screen(b);
          // Random record keys (no key column, no secret): one CSPRNG call per batch.
          const keys =
            keyCol !== undefined
              ? rows.map((r) => cellKeyOf(r[keyCol] as string))
              : keyer && idCol !== undefined
                ? rows.map((r) => keyer.key(r[idCol] as string))
                : randomBytes(rows.length);
          tab.addRows(rows, layout, keys);
          if (keys instanceof Uint8Array) keys.fill(0);
        }
      } finally {
        keyer?.destroy();
      }
      const vector = tab.vector();
      let channels: Channel[];
      let outcomes;
      try {
        channels = await Promise.all(
          addrs.map((a) => connect({ ...a, ...network, connectTimeoutMs: flags.timeout * 1000, idleTimeoutMs: flags.idleTimeout * 1000 })),
        );
        outcomes = await submitInput(channels, config, flags.party, vector, {
          signal: stopSignal(),
          ...(flags.agreementRun ? { agreement: flags.agreementRun.hash } : {}),
          // The receipt exchange is the last step of each accepted session.
          ...(receipts.wanted ? { afterSession: (s: Session, j: number) => receipts.exchangeOn(s, { learned: { aggregator: j }, order: j }) } : {}),
        });
        if (stopSignal().aborted) throw new KoppelError('ABORTED', 'The run was stopped; the aggregators were told.');
        const refused = outcomes.filter((o) => !o.accepted);
        for (const o of refused) io.err(`koppel: aggregator ${o.aggregator} refused the input: ${o.code}`);
        if (refused.length > 0) {
          throw new KoppelError(
            refused[0]?.code ?? 'ROUND_FAILED',
            `${refused.length} of ${outcomes.length} aggregators refused the input; the round will leave this party out.`,
          );
        }
        receipts.writeSessions({
          inputs: { records: tab.records },
          learned: { aggregators: outcomes.length, accepted: outcomes.length },
        });
      } catch (e) {
        receipts.failed(e);
        throw e;
      }
      io.err(
        `koppel: aggregate input ${flags.party}: ${formatCount(tab.records)} records in ${config.codebook.cells} cells, accepted by all ${outcomes.length} aggregators ` +
          `(${channels.map((c) => peerText(c.peer)).join(', ')})`,
      );
    },
  );

  addRolePinOptions(
    withRound(
      addListenerOptions(agg.command('aggregator'))
        .description('Aggregator: accept input shares until the deadline (or --expect inputs), then report the agreed sum to the collector.')
        .requiredOption('--index <j>', "this aggregator's index, 0 to m-1", parseIntFlag('--index', 0, 63))
        .requiredOption('--listen <host:port>', 'address for input parties')
        .requiredOption('--collector <host:port>', 'the collector')
        .option('--expect <n>', 'stop accepting after this many accepted inputs (default: at the deadline)', parseIntFlag('--expect', 1, 1_000_000)),
    ),
    'collector',
  ).action(async (flags: RoleFlags & RolePinFlags & ListenerFlags & { index: number; listen: string; collector: string; expect?: number }) => {
    const config = readRoundFile(flags.round);
    const network = await checkedNetwork(flags, { io, role: 'aggregate aggregator' });
    // The collector is pinned apart (--collector-peer): an input party's certificate must not stand in for it.
    const collectorPin = rolePinFrom(flags, network.security, 'collector');
    const receipts = new ReceiptRecorder(flags, 'aggregate aggregator', 'aggregator');
    const aggregator = new Aggregator(config, flags.index, {
      ...(flags.agreementRun ? { agreement: flags.agreementRun.hash } : {}),
      // The receipt exchange is the last step of each session: an input's share counts only after it.
      ...(receipts.wanted
        ? {
            afterInput: (s: Session) => receipts.exchangeOn(s, { learned: { share: 'accepted' } }),
            afterReport: (s: Session, r: { agreed: number; dropped: number }) =>
              receipts.exchangeOn(s, { learned: { agreedInputs: r.agreed, droppedInputs: r.dropped }, order: Number.MAX_SAFE_INTEGER }),
          }
        : {}),
    });
    const { host, port } = parseHostPort(flags.listen, '--listen');
    const listener = await listen({
      host,
      port,
      ...network,
      ...listenerSetup(io, `aggregator ${flags.index}`, flags),
      idleTimeoutMs: flags.idleTimeout * 1000,
    });
    logListening(io, `aggregator ${flags.index}`, host, listener.port);
    // --expect counts accepted inputs only: a refused share, a health check or a port
    // scan does not use up the round.
    let accepted = 0;
    // Refused inputs by code, for the receipt (a connection that closed before its HELLO is no input).
    const refused: Record<string, number> = {};
    let enough: () => void = () => undefined;
    const enoughInputs = new Promise<null>((resolve) => {
      enough = () => resolve(null);
    });
    const pending: Array<Promise<unknown>> = [];
    try {
      for (;;) {
        const left = config.deadline - Date.now();
        if (left <= 0) break;
        let ch;
        try {
          ch = await Promise.race([listener.acceptReady(left), enoughInputs]);
        } catch (e) {
          if (e instanceof KoppelError && e.code === 'TIMEOUT') break;
          throw e;
        }
        if (ch === null) break;
        const from = peerText(ch.peer);
        pending.push(
          aggregator.handleInput(ch).then((o) => {
            if (o.accepted) {
              accepted++;
              io.err(`koppel: aggregator ${flags.index}: accepted an input from ${from}`);
              if (flags.expect !== undefined && accepted >= flags.expect) enough();
            } else if (o.code !== 'CONNECTION_CLOSED') {
              const code = o.code ?? 'INTERNAL';
              refused[code] = (refused[code] ?? 0) + 1;
              io.err(`koppel: aggregator ${flags.index} refused an input: ${o.code}`);
            }
          }),
        );
      }
    } finally {
      await listener.close();
    }
    await Promise.all(pending);
    const c = parseHostPort(flags.collector, '--collector');
    let channel: Channel;
    let r: { agreed: number; dropped: number };
    try {
      channel = await connect({
        ...c,
        security: network.security,
        reconnectWindowMs: network.reconnectWindowMs,
        ...(network.onResume ? { onResume: network.onResume } : {}),
        ...(collectorPin === undefined ? {} : { peer: collectorPin }),
        connectTimeoutMs: flags.timeout * 1000,
        idleTimeoutMs: flags.idleTimeout * 1000,
      });
      r = await aggregator.report(channel, { signal: stopSignal() });
      await channel.close();
      receipts.writeSessions({
        // Refused inputs in all and by code (`refused:POLICY_REFUSED`, ...): what this aggregator turned away.
        inputs: {
          accepted,
          refused: Object.values(refused).reduce((a, b) => a + b, 0),
          ...Object.fromEntries(Object.entries(refused).map(([code, n]) => [`refused:${code}`, n])),
        },
        learned: { acceptedInputs: accepted, agreedInputs: r.agreed, droppedInputs: r.dropped },
      });
    } catch (e) {
      receipts.failed(e);
      throw e;
    }
    io.err(`koppel: aggregator ${flags.index}: summed ${r.agreed} agreed inputs (${r.dropped} dropped); reported to collector ${peerText(channel.peer)}`);
  });

  withRound(
    addListenerOptions(agg.command('collect'))
      .description('Collector: agree the inputs with the aggregators, add their sums and release the table with disclosure control.')
      .requiredOption('--listen <host:port>', 'address for the aggregators')
      .option('--threshold <k>', 'minimum contributors per published cell', parseIntFlag('--threshold', 1, 1_000_000), 10)
      .option('--no-secondary', 'no secondary suppression (totals may then reveal suppressed cells)')
      .option(
        '--protection <p>',
        "protection level: a small cell's count must look able to differ by at least P",
        parseIntFlag('--protection', 1, 1_000_000),
        1,
      )
      .option(
        '--value-protection <pct>',
        "value protection: a small cell's value sums must look able to differ by at least PCT% (and one unit)",
        parsePercentFlag('--value-protection'),
        0,
      )
      .addOption(new Option('--cell-key <ptable>', 'cell key method: "default" or a p-table JSON file (perturbs counts only)'))
      .option('--cell-key-counts-only', 'with --cell-key and value columns: publish the value sums exact beside the perturbed counts')
      .option('--out <file>', 'the released table as CSV; "-" or absent: stdout')
      .option('--meta <file>', "also write the round's metadata (inputs, noise, rules) as JSON")
      .option('--report-html <file>', REPORT_HTML_HELP),
  ).action(
    async (
      flags: RoleFlags &
        ListenerFlags & {
          listen: string;
          threshold: number;
          secondary: boolean;
          protection: number;
          valueProtection: number;
          cellKey?: string;
          cellKeyCountsOnly?: boolean;
          out?: string;
          meta?: string;
          reportHtml?: string;
        },
    ) => {
      const config = readRoundFile(flags.round);
      const network = await checkedNetwork(flags, { io, role: 'aggregate collector' });
      let ptable: PTable | undefined;
      if (flags.cellKey === 'default') ptable = DEFAULT_PTABLE;
      else if (flags.cellKey) ptable = checkPTable(readPTableFile(flags.cellKey));
      if (flags.cellKeyCountsOnly && !ptable) throw new KoppelError('INVALID_ARGUMENT', '--cell-key-counts-only goes with --cell-key.');
      const cellKey = ptable ? { cellKey: ptable, cellKeyCountsOnly: flags.cellKeyCountsOnly === true } : {};
      // Before listening: exact sums beside perturbed counts only when the operator says so.
      checkCellKeyOptions(config.codebook, cellKey);
      const { host, port } = parseHostPort(flags.listen, '--listen');
      const startedAt = new Date();
      // An aggregator's HELLO lists the parties it accepted: up to maxInputs ids of 128 characters.
      const helloBytes = Math.max(1024 * 1024, config.codebook.spec.maxInputs * 132 + 64 * 1024);
      const listener = await listen({
        host,
        port,
        ...network,
        ...listenerSetup(io, 'collect', flags, undefined, helloBytes),
        idleTimeoutMs: flags.idleTimeout * 1000,
      });
      logListening(io, 'collect', host, listener.port);
      const acceptUntil = config.deadline + flags.timeout * 1000;
      const accepted: Channel[] = [];
      // Connections until m aggregators have said HELLO (collect() skips strays).
      const incoming = (async function* () {
        for (;;) {
          let c: Channel;
          try {
            c = await listener.acceptReady(Math.max(1, acceptUntil - Date.now()));
          } catch (e) {
            if (e instanceof KoppelError && (e.code === 'TIMEOUT' || e.code === 'CONNECTION_CLOSED')) return; // too few: collect() fails the round
            throw e;
          }
          accepted.push(c);
          yield c;
        }
      })();
      const receipts = new ReceiptRecorder(flags, 'aggregate collect', 'collector');
      // The table is final before the aggregators' sessions close: it is rendered and
      // written there, so each session's receipt can name its hash.
      const release = async (r: RoundResult, sessions: readonly Session[]) => {
        const spec = config.codebook.spec;
        const lines = [
          formatRecord([...spec.dimensions.map((d) => d.name), 'count', ...spec.values.map((v) => `sum_${v.name}`), 'suppressed', 'rule'], ',', '\n'),
        ];
        for (const e of r.table) {
          const sums = e.sums.map((x, i) => (x === null ? '' : formatFixed(x, (spec.values[i] as { scale: number }).scale)));
          lines.push(formatRecord([...e.labels, e.count === null ? '' : e.count.toString(), ...sums, String(e.count === null), e.rule], ',', '\n'));
        }
        const table = lines.join('');
        const meta = {
          command: 'aggregate collect',
          round: r.round,
          agreement: flags.agreementRun ?? null,
          inputs: r.inputs,
          dropped: r.dropped,
          partyIds: r.partyIds,
          parties: r.parties,
          aggregators: accepted.map((c) => peerSummary(c.peer)),
          noise: r.noise,
          disclosure: r.disclosure,
          codebook: config.codebook.hash,
          startedAt: startedAt.toISOString(),
          finishedAt: new Date().toISOString(),
          outputs: [{ path: flags.out ?? '-', sha256: sha256Hex(table), bytes: Buffer.byteLength(table) }],
        };
        // The report is built from the table as written and the metadata, before any output is written.
        const html = flags.reportHtml === undefined ? undefined : await buildReport(table, meta);
        const metaText = JSON.stringify(meta, null, 2) + '\n';
        writeOutput(flags.out, table);
        if (flags.meta) writeOutput(flags.meta, metaText);
        if (flags.reportHtml !== undefined && html !== undefined) writeOutput(flags.reportHtml, html);
        const suppressed = r.table.filter((e) => e.count === null).length;
        if (receipts.wanted) {
          const outputs = [{ path: flags.out ?? '-', text: table }, ...(flags.meta ? [{ path: flags.meta, text: metaText }] : [])];
          const learned = { inputs: r.inputs, droppedInputs: r.dropped, cells: r.table.length, suppressed, released: r.table.length - suppressed };
          // Every aggregator's session exchanges at once: each waits only for its own peer.
          await Promise.all(sessions.map((x, j) => receipts.exchangeOn(x, { learned, outputs, order: j })));
          receipts.writeSessions({ inputs: { aggregators: sessions.length }, learned, outputs });
        }
        io.err(
          `koppel: collected round ${r.round}: ${r.inputs} inputs (${r.dropped} dropped), ${r.table.length} cells and totals, ${suppressed} suppressed; ` +
            `connections from ${accepted.map((c) => peerText(c.peer)).join(', ')}`,
        );
      };
      try {
        await collect(
          incoming,
          config,
          {
            threshold: flags.threshold,
            secondary: flags.secondary,
            protection: flags.protection,
            valueProtection: flags.valueProtection,
            ...cellKey,
          },
          { ...(flags.agreementRun ? { agreement: flags.agreementRun.hash } : {}), beforeClose: release, signal: stopSignal() },
        );
      } catch (e) {
        receipts.failed(e);
        throw e;
      } finally {
        await listener.close();
        await incoming.return(undefined);
      }
      // The table is released: wait for the aggregators to hang up.
      await Promise.all(accepted.map((c) => c.close()));
    },
  );
  // --agreement FILE: parameters and peers from a signed linking agreement.
  withAgreement(addReceiptOption(subcommand(agg, 'input')), 'input');
  withAgreement(addReceiptOption(subcommand(agg, 'aggregator')), 'aggregator');
  withAgreement(addReceiptOption(subcommand(agg, 'collect')), 'collector');
}

/**
 * The cell key secret from its file (64 hex digits) as a {@link RecordKeyer}; the decoded
 * bytes are wiped as soon as the keyer holds its own state, whatever happens.
 *
 * @throws KoppelError `INVALID_KEY` unless the file holds 32 bytes in hex; `IO_ERROR` if it cannot be read
 */
function readCellKeyer(file: string): RecordKeyer {
  const secret = fromHex(readTextFile(file, 'cell key secret file').trim());
  try {
    if (!secret || secret.length !== 32) throw new KoppelError('INVALID_KEY', 'The cell key secret must be 32 bytes in hex.');
    return new RecordKeyer(secret);
  } finally {
    secret?.fill(0);
  }
}
