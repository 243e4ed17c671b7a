/**
 * `koppel psi serve` and `koppel psi connect`: the two parties of ECDH-PSI on CSV files,
 * over mutual TLS (or plain TCP with `--insecure`).
 *
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import { Option, type Command } from './commander.js';
import { KoppelError } from '../errors/index.js';
import { openCsv, type CsvReader } from '../csv/reader.js';
import { columnIndex, formatRecord, parseDelimiter, type CsvDelimiter } from '../csv/records.js';
import { SUITE_NAMES, type SuiteName } from '../group/suite.js';
import { checkerFor, ID_TYPES, type IdType } from '../pseudonymise/normalise.js';
import { PSI_MODES, type PsiMode } from '../psi/messages.js';
import { psiClient, psiServer, type PayloadItem } from '../psi/psi.js';
import { connect, listen } from '../transport/net.js';
import { formatCount, inputChunks, isStdio, openOutput, ProgressLine } from './io.js';
import { addNetworkOptions, checkedSecurity, parseHostPort, type NetworkFlags } from './net.js';
import { parseIntFlag, type Console } from './shared.js';

interface CommonFlags extends NetworkFlags {
  readonly in?: string;
  readonly column: string;
  readonly mode: PsiMode;
  readonly suite: SuiteName;
  readonly idType: IdType;
  readonly onInvalid: 'error' | 'skip';
  readonly delimiter: string;
  readonly threads?: number;
  readonly padTo?: number;
  readonly progress?: boolean;
  readonly summary: 'text' | 'json';
  readonly quiet?: boolean;
}

interface ServeFlags extends CommonFlags {
  readonly listen: string;
  readonly payloadColumns?: string;
  readonly payloadBytes?: number;
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
    .addOption(new Option('--on-invalid <policy>', 'invalid identifier or field count: error = stop, skip = leave the record out').choices(['error', 'skip']).default('error'))
    .option('--delimiter <d>', 'field delimiter: "," ";" or "tab"', ',')
    .option('--threads <n>', `worker threads (0: single thread; default: ${availableParallelism()})`, parseIntFlag('--threads', 0, 256))
    .option('--pad-to <n>', 'pad this side\'s set with dummies to exactly N, so the peer learns N, not the true size', parseIntFlag('--pad-to', 0, 2 ** 32 - 1))
    .option('--progress', 'show progress on stderr even when it is not a terminal')
    .option('--no-progress', 'never show progress')
    .addOption(new Option('--summary <format>', 'summary on stderr').choices(['text', 'json']).default('text'))
    .option('--quiet', 'no summary');
  return addNetworkOptions(c);
}

/** Counts of records read and skipped. */
export interface ReadStats {
  records: number;
  skipped: number;
}

/** Opens the input CSV and finds the identifier column, before any network activity. */
async function openInputCsv(path: string | undefined, flags: CommonFlags): Promise<{ csv: CsvReader; col: number }> {
  const delimiter: CsvDelimiter = parseDelimiter(flags.delimiter);
  const csv = await openCsv(inputChunks(path), delimiter);
  return { csv, col: columnIndex(csv.header, flags.column) };
}

/** Normalised identifiers (and their records) of a CSV, with the invalid-record policy. */
export async function* readIds(csv: CsvReader, col: number, flags: Pick<CommonFlags, 'idType' | 'onInvalid'>, stats: ReadStats): AsyncGenerator<{ id: string; record: string[] }> {
  const check = checkerFor(flags.idType);
  for await (const batch of csv.batches) {
    for (let i = 0; i < batch.records.length; i++) {
      const r = batch.records[i] as string[];
      stats.records++;
      const record = batch.firstRecord + i;
      if (r.length !== csv.header.length) {
        if (flags.onInvalid === 'skip') {
          stats.skipped++;
          continue;
        }
        throw new KoppelError('CSV_MALFORMED', `A CSV record has ${r.length} fields where the header has ${csv.header.length}; fix it or use --on-invalid skip.`, { details: { record } });
      }
      const n = check(r[col] as string);
      if (typeof n !== 'string') {
        if (flags.onInvalid === 'skip') {
          stats.skipped++;
          continue;
        }
        throw new KoppelError(n.code, `An identifier is invalid (${n.reason}); fix it or use --on-invalid skip.`, { details: { record, reason: n.reason } });
      }
      yield { id: n, record: r };
    }
  }
}

/** Progress on stderr at most once a second: phase, items done, overall rate. */
export function progressReporter(line: ProgressLine, role: string): (p: { readonly phase: string; readonly done: number }) => void {
  const start = performance.now();
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (now - last < 1000) return;
    last = now;
    line.update(`${role}: ${p.phase} ${formatCount(p.done)} (${formatCount((p.done / (now - start)) * 1000)}/s overall)`);
  };
}

/** Registers `psi serve` and `psi connect`. */
export function psiCommand(program: Command, io: Console): void {
  const psi = program.command('psi').description('Private set intersection (ECDH, OPRF style) between two parties over the network.');

  addCommonOptions(
    psi
      .command('serve')
      .description('Serve one PSI session: wait for the connecting party, answer, and learn only the size of its set.')
      .requiredOption('--listen <host:port>', 'address to listen on, e.g. 127.0.0.1:7000')
      .option('--payload-columns <a,b>', 'payload mode: columns sent (encrypted) to the connecting party for matching records')
      .option('--payload-bytes <n>', 'payload mode: pad every payload to N bytes (default: the longest, which the peer learns)', parseIntFlag('--payload-bytes', 0, 65535)),
  )
    .addHelpText('after', '\nThe server learns the size of the client\'s set (or its --pad-to bound) and nothing else.')
    .action(async (flags: ServeFlags) => {
      const security = await checkedSecurity(flags);
      const { host, port } = parseHostPort(flags.listen, '--listen');
      if (flags.mode === 'payload' && !flags.payloadColumns) throw new KoppelError('INVALID_ARGUMENT', 'Payload mode needs --payload-columns.');
      if (flags.mode !== 'payload' && flags.payloadColumns) throw new KoppelError('INVALID_ARGUMENT', '--payload-columns is for --mode payload.');
      const names = flags.payloadColumns?.split(',').map((s) => s.trim()) ?? [];
      const stats: ReadStats = { records: 0, skipped: 0 };
      const { csv, col } = await openInputCsv(flags.in, flags);
      const payloadIdx = names.map((n) => columnIndex(csv.header, n));
      const reading = readIds(csv, col, flags, stats);
      const encoder = new TextEncoder();
      const items = (async function* (): AsyncGenerator<string | PayloadItem> {
        for await (const { id, record } of reading) {
          if (flags.mode !== 'payload') yield id;
          else yield { id, payload: encoder.encode(JSON.stringify(Object.fromEntries(names.map((n, i) => [n, record[payloadIdx[i] as number]])))) };
        }
      })();
      const listener = await listen({ host, port, security, idleTimeoutMs: flags.idleTimeout * 1000 });
      const progress = new ProgressLine(flags.progress);
      progress.update(`psi serve: listening on ${host}:${listener.port}`);
      try {
        const channel = await listener.accept(flags.timeout * 1000);
        await listener.close();
        const started = performance.now();
        const r = await psiServer(channel, items, {
          mode: flags.mode,
          suite: flags.suite,
          ...(flags.threads === undefined ? {} : { threads: flags.threads }),
          ...(flags.padTo === undefined ? {} : { padTo: flags.padTo }),
          ...(flags.payloadBytes === undefined ? {} : { payloadBytes: flags.payloadBytes }),
          onProgress: progressReporter(progress, 'psi serve'),
        });
        await channel.close();
        progress.done();
        if (flags.summary === 'json' && !flags.quiet) {
          io.err(JSON.stringify({ role: 'server', mode: flags.mode, suite: flags.suite, serverSetSize: r.serverSetSize, clientSetSize: r.clientSetSize, skipped: stats.skipped, elapsedMs: Math.round(performance.now() - started), peakRssBytes: process.resourceUsage().maxRSS * 1024 }));
        } else if (!flags.quiet) {
          io.err(
            `koppel: psi serve (${flags.mode}, ${flags.suite}): served ${formatCount(r.serverSetSize)} distinct items (${formatCount(stats.skipped)} records skipped) ` +
              `to a client set of ${formatCount(r.clientSetSize)} in ${((performance.now() - started) / 1000).toFixed(2)} s`,
          );
        }
      } finally {
        progress.done();
        await listener.close().catch(() => undefined);
      }
    });

  addCommonOptions(
    psi
      .command('connect')
      .description('Connect to a PSI server and learn the intersection, its size, or the server\'s payloads for matching records.')
      .requiredOption('--connect <host:port>', 'the server\'s address, e.g. 127.0.0.1:7000')
      .option('--out <file>', 'output: matching input records (intersection, payload) or {"cardinality": N}; "-" or absent: stdout'),
  )
    .addHelpText('after', '\nintersection: the input records whose identifier is in both sets; payload: the same with the\nserver\'s payload columns appended; cardinality: {"cardinality": N} only.')
    .action(async (flags: ConnectFlags) => {
      const security = await checkedSecurity(flags);
      const { host, port } = parseHostPort(flags.connect, '--connect');
      const stats: ReadStats = { records: 0, skipped: 0 };
      // A file is read twice (identifiers now, matching records at the end) so only
      // the identifiers stay in memory; stdin cannot be re-read, so its records are kept.
      const keepRecords = isStdio(flags.in);
      const kept: string[][] = [];
      const { csv, col: idColumn } = await openInputCsv(flags.in, flags);
      const header = csv.header;
      const ids = (async function* () {
        for await (const { id, record } of readIds(csv, idColumn, flags, stats)) {
          if (keepRecords) kept.push(record);
          yield id;
        }
      })();
      const progress = new ProgressLine(flags.progress);
      progress.update(`psi connect: connecting to ${host}:${port}`);
      const channel = await connect({ host, port, security, connectTimeoutMs: flags.timeout * 1000, idleTimeoutMs: flags.idleTimeout * 1000 });
      const started = performance.now();
      let result: Awaited<ReturnType<typeof psiClient>>;
      try {
        result = await psiClient(channel, ids, {
          mode: flags.mode,
          suite: flags.suite,
          ...(flags.threads === undefined ? {} : { threads: flags.threads }),
          ...(flags.padTo === undefined ? {} : { padTo: flags.padTo }),
          onProgress: progressReporter(progress, 'psi connect'),
        });
      } finally {
        progress.done();
        await channel.close();
      }
      const out = openOutput(flags.out);
      try {
        const delimiter = parseDelimiter(flags.delimiter);
        let written = 0;
        if (result.mode === 'cardinality') {
          out.stream.write(JSON.stringify({ cardinality: result.size }) + '\n');
        } else {
          const payloadOf = new Map<string, Record<string, string>>();
          let extra: string[] = [];
          if (result.mode === 'payload') {
            const decoder = new TextDecoder();
            for (const m of result.matches) payloadOf.set(m.id, JSON.parse(decoder.decode(m.payload)) as Record<string, string>);
            extra = Object.keys(payloadOf.values().next().value ?? {});
          }
          const matched = new Set(result.mode === 'intersection' ? result.intersection : result.matches.map((m) => m.id));
          out.stream.write(formatRecord([...header, ...extra], delimiter, '\n'));
          const check = checkerFor(flags.idType);
          const emit = (record: string[]) => {
            const n = check(record[idColumn] as string);
            if (typeof n !== 'string' || !matched.has(n)) return;
            const p = payloadOf.get(n);
            out.stream.write(formatRecord([...record, ...extra.map((k) => String(p?.[k] ?? ''))], delimiter, '\n'));
            written++;
          };
          if (keepRecords) kept.forEach(emit);
          else {
            const again = await openCsv(inputChunks(flags.in), delimiter);
            for await (const b of again.batches) for (const r of b.records) if (r.length === header.length) emit(r);
          }
        }
        await out.commit();
        if (flags.summary === 'json' && !flags.quiet) {
          const size = result.mode === 'cardinality' ? result.size : result.mode === 'intersection' ? result.intersection.length : result.matches.length;
          io.err(JSON.stringify({ role: 'client', mode: flags.mode, suite: flags.suite, intersectionSize: size, recordsWritten: written, serverSetSize: result.serverSetSize, skipped: stats.skipped, elapsedMs: Math.round(performance.now() - started), peakRssBytes: process.resourceUsage().maxRSS * 1024 }));
        } else if (!flags.quiet) {
          const what = result.mode === 'cardinality' ? `intersection size ${formatCount(result.size)}` : `${formatCount(written)} matching records`;
          io.err(
            `koppel: psi connect (${flags.mode}, ${flags.suite}): ${what}; ${formatCount(stats.records - stats.skipped)} records read (${formatCount(stats.skipped)} skipped), ` +
              `server set ${formatCount(result.serverSetSize)}, in ${((performance.now() - started) / 1000).toFixed(2)} s`,
          );
        }
      } catch (e) {
        await out.abort();
        throw e;
      }
    });
}
