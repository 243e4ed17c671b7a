/**
 * `koppel keygen` and `koppel pseudonymise`.
 *
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import { Option, type Command } from 'commander';
import { KoppelError } from '../errors/index.js';
import { exportKey, generateKey } from '../pseudonymise/key.js';
import { ID_TYPES, type IdType } from '../pseudonymise/normalise.js';
import { pseudonymiseCsv, type InvalidRecord, type PseudonymiseCsvSummary } from '../pseudonymise/csv.js';
import { INVALID_POLICIES, type InvalidPolicy } from '../pseudonymise/csv-chunk.js';
import { parseDelimiter } from '../csv/records.js';
import { checkDistinct, formatBytes, formatCount, isStdio, openInput, openOutput, ProgressLine, readKeyFile, writeSecretFile } from './io.js';
import { parseIntFlag, type Console } from './shared.js';

interface KeygenFlags {
  readonly out?: string;
  readonly label?: string;
  readonly force?: boolean;
}

interface PseudonymiseFlags {
  readonly key: string;
  readonly domain: string;
  readonly column: string;
  readonly idType: IdType;
  readonly in?: string;
  readonly out?: string;
  readonly onInvalid: InvalidPolicy;
  readonly report?: string;
  readonly delimiter: string;
  readonly threads?: number;
  readonly progress?: boolean;
  readonly summary: 'text' | 'json';
  readonly quiet?: boolean;
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
  program
    .command('pseudonymise')
    .alias('pseudonymize')
    .description('Replace one CSV column with keyed pseudonyms (HMAC-SHA256 under a per-domain key), streaming, on all cores.')
    .requiredOption('--key <file>', 'key file from `koppel keygen`')
    .requiredOption('--domain <name>', 'pseudonymisation domain, e.g. cbs/2026/logius-link; other domains give unrelated pseudonyms')
    .requiredOption('--column <name>', 'header name of the identifier column to replace')
    .addOption(new Option('--id-type <type>', 'how identifiers are normalised before hashing').choices(ID_TYPES).default('raw'))
    .option('--in <file>', 'input CSV with a header row; "-" or absent: stdin')
    .option('--out <file>', 'output CSV, written atomically; "-" or absent: stdout')
    .addOption(
      new Option('--on-invalid <policy>', 'invalid identifier or field count: error = stop (no output file), skip = drop the record, report = keep it with an empty identifier')
        .choices(INVALID_POLICIES)
        .default('error'),
    )
    .option('--report <file>', 'write rejected records (record number, code, reason; never values) as CSV')
    .option('--delimiter <d>', 'field delimiter: "," ";" or "tab"', ',')
    .option('--threads <n>', `worker threads (0: single thread; default: ${availableParallelism()})`, parseIntFlag('--threads', 0, 256))
    .option('--progress', 'show progress on stderr even when it is not a terminal')
    .option('--no-progress', 'never show progress')
    .addOption(new Option('--summary <format>', 'summary on stderr').choices(['text', 'json']).default('text'))
    .option('--quiet', 'no summary')
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
      const key = await readKeyFile(flags.key, io.err);
      const input = openInput(flags.in);
      const output = openOutput(flags.out);
      const report = flags.report === undefined ? undefined : openOutput(flags.report);
      report?.stream.write('record,code,reason\n');
      const progress = new ProgressLine(flags.progress);
      let summary: PseudonymiseCsvSummary;
      try {
        summary = await pseudonymiseCsv(input, output.stream, {
          key,
          domain: flags.domain,
          column: flags.column,
          idType: flags.idType,
          onInvalid: flags.onInvalid,
          delimiter,
          ...(flags.threads === undefined ? {} : { threads: flags.threads }),
          ...(report ? { onRejected: (r: InvalidRecord) => report.stream.write(`${r.record},${r.code},${r.reason}\n`) } : {}),
          onProgress: (p) =>
            progress.update(
              `pseudonymise: ${formatBytes(p.bytesRead)} read, ${formatCount(p.records)} records, ${formatCount((p.records / p.elapsedMs) * 1000)} records/s`,
            ),
        });
        await output.commit();
        await report?.commit();
      } catch (e) {
        await output.abort();
        await report?.abort();
        throw e;
      } finally {
        progress.done();
        key.destroy();
        input.destroy();
      }
      if (flags.quiet) return;
      if (flags.summary === 'json') {
        // Peak resident memory of this process (worker threads included), for capacity planning.
        const peakRssBytes = process.resourceUsage().maxRSS * 1024;
        io.err(JSON.stringify({ ...summary, elapsedMs: Math.round(summary.elapsedMs), peakRssBytes }));
        return;
      }
      const rate = (summary.records / Math.max(summary.elapsedMs, 1)) * 1000;
      io.err(
        `koppel: pseudonymised ${formatCount(summary.pseudonymised)} of ${formatCount(summary.records)} records` +
          ` (${formatCount(summary.rejected)} rejected) in ${(summary.elapsedMs / 1000).toFixed(2)} s, ${formatCount(rate)} records/s, ${summary.threads} threads`,
      );
      for (const [reason, n] of Object.entries(summary.rejectedByReason)) io.err(`koppel:   rejected ${reason}: ${formatCount(n)}`);
    });
}
