/**
 * `koppel check --agreement FILE --party NAME --in FILE`: a dry run of one party's
 * input under a linking agreement. It reads the file exactly as the party's real run
 * would, through the same library code (the invalid-record policy, the PSI and join CSV
 * readers, the aggregation's tabulator), and reports counts and record numbers, never a
 * value: records read, valid and invalid by reason, duplicates, groups, and whether the
 * real run with `--on-invalid error` would stop (then the exit status is 1). It contacts
 * nobody and does not verify the agreement's signatures (`koppel agreement verify` does).
 *
 * @packageDocumentation
 */
import { agreementHash, agreementParty, type Agreement, type AgreementParty } from '../agreement/agreement.js';
import { Tabulator } from '../aggregate/tabulate.js';
import { SkipReport, POLICY_WORDING, RecordPolicy, type InvalidRecord } from '../csv/policy.js';
import { openCsv } from '../csv/reader.js';
import { columnIndex, parseDelimiter, type CsvDelimiter, type CsvStyle } from '../csv/records.js';
import { KoppelError, type KoppelErrorCode } from '../errors/index.js';
import { openJoinGroupsCsv, openJoinValuesCsv } from '../join/csv.js';
import { DEFAULT_MIN_COUNT } from '../join/join.js';
import { MAX_GROUPS, MAX_LIST_ELEMENTS } from '../join/messages.js';
import type { IdType } from '../pseudonymise/normalise.js';
import { openPsiClientCsv, openPsiServerCsv } from '../psi/csv.js';
import { Option, type Command } from './commander.js';
import { agreementValues, readAgreementFile, type CommandRole } from './agreement.js';
import { readRoundFile } from './aggregate.js';
import type { RoundConfig } from '../aggregate/round.js';
import { openRejectReport, type RejectReport } from './common.js';
import { formatCount, inputChunks } from './io.js';
import { currentLogFormat } from './log.js';
import type { Console } from './program.js';

/** How many record numbers the report lists per reason (the `--report` file has them all). */
export const FIRST_RECORDS = 10;

/** Invalid records of one `code/reason`: how many, and the first few record numbers. */
export interface CheckReason {
  /** The error code the real run would stop with. */
  readonly code: KoppelErrorCode;
  /** The one-word reason (`checksum`, `field-count`, `value`, ...). */
  readonly reason: string;
  /** Records with this reason. */
  count: number;
  /** The first {@link FIRST_RECORDS} record numbers (1-based, after the header). */
  readonly firstRecords: number[];
}

/** Something that stops the real run whatever `--on-invalid` says (or that stopped reading). */
export interface CheckStop {
  /** The error code. */
  readonly code: KoppelErrorCode;
  /** What stops it, in the library's words (never a value). */
  readonly message: string;
  /** The record at which it stops, where there is one. */
  readonly record?: number;
}

/** What `koppel check` found (the JSON of `--summary json`). */
export interface CheckResult {
  /** Always `check`. */
  readonly command: 'check';
  /** The agreement read: its id, version and SHA-256 (not its signatures). */
  readonly agreement: { readonly id: string; readonly version: number; readonly sha256: string };
  /** The party checked, and its role in the agreement. */
  readonly party: string;
  /** The party's role (`server`, `client`, `groups`, `values`, `input`). */
  readonly role: string;
  /** Always false: the check does not verify signatures. */
  readonly signaturesVerified: false;
  /** The columns read, by what the run reads them for. */
  readonly columns: Record<string, string | readonly string[]>;
  /** How identifiers are normalised (PSI and join). */
  readonly idType?: IdType;
  /** Records read (after the header), invalid ones included. */
  recordsRead: number;
  /** Records the real run would use. */
  valid: number;
  /** Records the real run with `--on-invalid skip` would leave out. */
  invalid: number;
  /** The invalid records by `code/reason`, in the order each reason first occurs. */
  readonly invalidByReason: CheckReason[];
  /** Records whose (normalised) identifier an earlier record has, where identifiers are read. */
  duplicates?: { count: number; readonly firstRecords: number[]; readonly stops: boolean };
  /** Group holder: the groups its lists would be. */
  groups?: { count: number; smallest: number; largest: number; belowMinCount: number };
  /** What stops the real run under every policy, or stopped reading the file. */
  readonly stops: CheckStop[];
  /** True when the real run with `--on-invalid error` would stop. */
  wouldStop: boolean;
}

/** Counts rejected records by reason, keeping the first few record numbers of each. */
class ReasonTally {
  readonly reasons: CheckReason[] = [];
  readonly #byKey = new Map<string, CheckReason>();
  /** Adds one rejection. */
  readonly add = (r: InvalidRecord): void => {
    const key = `${r.code}/${r.reason}`;
    let entry = this.#byKey.get(key);
    if (!entry) {
      entry = { code: r.code, reason: r.reason, count: 0, firstRecords: [] };
      this.#byKey.set(key, entry);
      this.reasons.push(entry);
    }
    entry.count++;
    if (entry.firstRecords.length < FIRST_RECORDS) entry.firstRecords.push(r.record);
  };
}

/** Duplicate identifiers, by the record number of each repeat. */
class DuplicateTally {
  readonly seen = new Set<string>();
  count = 0;
  readonly firstRecords: number[] = [];
  /** Notes the identifier of record `record`; true when an earlier record had it. */
  note(id: string, record: number): boolean {
    if (!this.seen.has(id)) {
      this.seen.add(id);
      return false;
    }
    this.count++;
    if (this.firstRecords.length < FIRST_RECORDS) this.firstRecords.push(record);
    return true;
  }
}

/** The flags of `koppel check`. */
interface CheckFlags {
  readonly agreement: string;
  readonly party: string;
  readonly in?: string;
  readonly delimiter: string;
  readonly report?: string;
  readonly summary: 'text' | 'json';
}

/** What one role's reader needs: the agreement's values for the party, the input, where rejections go. */
interface ReadContext {
  readonly values: Record<string, string | number | boolean>;
  readonly input: AsyncIterable<Uint8Array>;
  readonly delimiter: CsvDelimiter;
  readonly onRejected: (r: InvalidRecord) => void;
  readonly result: CheckResult;
  /** Called with the input's style once its header is read (for the `--report` file). */
  readonly onStyle: (s: CsvStyle) => void;
  readonly agreement: Agreement;
  readonly agreementPath: string;
}

const text = (v: string | number | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const columnList = (v: string | number | boolean | undefined): string[] | undefined =>
  typeof v === 'string' && v !== '' ? v.split(',').map((s) => s.trim()) : undefined;

/** The value the agreement must fix for this party, or a typed error naming the field. */
function needed<T>(value: T | undefined, party: AgreementParty, field: string): T {
  if (value === undefined)
    throw new KoppelError(
      'AGREEMENT_INVALID',
      `The agreement does not name party ${party.name}'s ${field} (parties.${party.name}.input.${field}): nothing to check against.`,
      {
        details: { field },
      },
    );
  return value;
}

/** A stop from an error the reading raised: the library's message and the record it names. */
function stopOf(e: KoppelError): CheckStop {
  const record = e.details['record'];
  return { code: e.code, message: e.message, ...(typeof record === 'number' ? { record } : {}) };
}

/** PSI, either side: the identifiers as `psi serve` or `psi connect` reads them. */
async function readPsi(c: ReadContext, party: AgreementParty, role: 'server' | 'client'): Promise<void> {
  const column = needed(text(c.values['column']), party, 'idColumn');
  const idType = (text(c.values['idType']) ?? 'raw') as IdType;
  const mode = text(c.values['mode']) ?? 'intersection';
  const payloadColumns = role === 'server' && mode === 'payload' ? columnList(c.values['payloadColumns']) : undefined;
  Object.assign(c.result.columns, { id: column, ...(payloadColumns ? { payload: payloadColumns } : {}) });
  Object.assign(c.result, { idType });
  const o = { column, idType, onInvalid: 'skip' as const, delimiter: c.delimiter, onRejected: c.onRejected };
  const dup = new DuplicateTally();
  // Payload mode refuses a repeated id (which payload would it send?); the other modes send it once.
  const dupStops = payloadColumns !== undefined;
  c.result.duplicates = { count: 0, firstRecords: dup.firstRecords, stops: dupStops };
  const csv = role === 'server' ? await openPsiServerCsv(c.input, { ...o, ...(payloadColumns ? { payloadColumns } : {}) }) : await openPsiClientCsv(c.input, o);
  c.onStyle(csv.style);
  const items: AsyncIterable<string | { id: string }> = 'items' in csv ? csv.items : csv.ids;
  for await (const item of items) {
    // The reader yields a record as soon as it is read: recordsRead is its number.
    dup.note(typeof item === 'string' ? item : item.id, csv.recordsRead);
    c.result.valid++;
  }
  c.result.recordsRead = csv.recordsRead;
  c.result.duplicates.count = dup.count;
  const padTo = c.values['padTo'];
  if (typeof padTo === 'number' && dup.seen.size > padTo)
    c.result.stops.push({ code: 'INVALID_ARGUMENT', message: `The set has more distinct identifiers than the agreement's padTo (${padTo}).` });
  if (dupStops && dup.count > 0)
    c.result.stops.push({
      code: 'INVALID_ARGUMENT',
      message: 'An id occurs twice among the server items; in payload mode ids must be unique.',
      ...(dup.firstRecords[0] === undefined ? {} : { record: dup.firstRecords[0] }),
    });
}

/**
 * An OPRF service's client: the identifiers as `pseudonymise --oprf` reads them (its
 * precheck: field counts and the identifier under the agreement's id type). A repeated
 * identifier is noted, not a stop: it gets the same pseudonym twice.
 */
async function readOprfClient(c: ReadContext, party: AgreementParty): Promise<void> {
  const column = needed(text(c.values['column']), party, 'idColumn');
  const idType = (text(c.values['idType']) ?? 'raw') as IdType;
  Object.assign(c.result.columns, { id: column });
  Object.assign(c.result, { idType });
  const csv = await openCsv(c.input, c.delimiter);
  c.onStyle(csv.style);
  const policy = new RecordPolicy({
    fields: csv.header.length,
    column: columnIndex(csv.header, column),
    idType,
    policy: 'skip',
    wording: POLICY_WORDING.oprf,
    report: new SkipReport(c.onRejected),
  });
  const dup = new DuplicateTally();
  c.result.duplicates = { count: 0, firstRecords: dup.firstRecords, stops: false };
  for await (const b of csv.batches) {
    c.result.recordsRead += b.records.length;
    b.records.forEach((r, i) => {
      const id = policy.identify(r, b.firstRecord + i);
      if (id === undefined) return;
      dup.note(id, b.firstRecord + i);
      c.result.valid++;
    });
  }
  c.result.duplicates.count = dup.count;
}

/** The join's group holder: identifiers and group labels as `join groups` reads them. */
async function readGroups(c: ReadContext, party: AgreementParty): Promise<void> {
  const idColumn = needed(text(c.values['idColumn']), party, 'idColumn');
  const groupColumns = needed(columnList(c.values['groupColumns']), party, 'groupColumns');
  const idType = (text(c.values['idType']) ?? 'raw') as IdType;
  Object.assign(c.result.columns, { id: idColumn, groups: groupColumns });
  Object.assign(c.result, { idType });
  const csv = await openJoinGroupsCsv(c.input, { idColumn, idType, groupColumns, onInvalid: 'skip', delimiter: c.delimiter, onRejected: c.onRejected });
  c.onStyle(csv.style);
  const dup = new DuplicateTally();
  c.result.duplicates = { count: 0, firstRecords: dup.firstRecords, stops: true };
  const sizes = new Map<string, number>();
  let tooMany = false;
  for await (const r of csv.records) {
    // A repeated identifier stops the real run (a person is in one group only): noted
    // here, and the reading goes on to find every other one.
    dup.note(r.id, csv.recordsRead);
    c.result.valid++;
    const key = JSON.stringify(r.group);
    const n = sizes.get(key);
    // Past the join's limit the run stops; counting stops growing there too (memory).
    if (n !== undefined) sizes.set(key, n + 1);
    else if (sizes.size <= MAX_GROUPS) sizes.set(key, 1);
    else tooMany = true;
  }
  c.result.recordsRead = csv.recordsRead;
  c.result.duplicates.count = dup.count;
  const all = [...sizes.values()];
  const minCount = typeof c.values['minCount'] === 'number' ? c.values['minCount'] : DEFAULT_MIN_COUNT;
  let smallest = Infinity;
  let largest = 0;
  for (const n of all) {
    smallest = Math.min(smallest, n);
    largest = Math.max(largest, n);
  }
  c.result.groups = { count: all.length, smallest: all.length ? smallest : 0, largest, belowMinCount: all.filter((n) => n < minCount).length };
  const stop = (message: string, record?: number) => c.result.stops.push({ code: 'INVALID_ARGUMENT', message, ...(record === undefined ? {} : { record }) });
  if (dup.count > 0)
    stop('An identifier occurs twice among the group records; each person may be in one group only. Remove duplicates first.', dup.firstRecords[0]);
  if (tooMany || all.length > MAX_GROUPS)
    stop(`More than ${MAX_GROUPS} groups; coarsen the group columns (the counts stop at the first group past the limit).`);
  const padListsTo = c.values['padListsTo'];
  const padGroupsTo = c.values['padGroupsTo'];
  if (typeof padListsTo === 'number' && c.result.groups.largest > padListsTo) stop(`A group has more records than the agreement's padListsTo (${padListsTo}).`);
  if (typeof padGroupsTo === 'number' && all.length > padGroupsTo) stop(`There are more groups than the agreement's padGroupsTo (${padGroupsTo}).`);
  const lists = typeof padGroupsTo === 'number' ? Math.max(padGroupsTo, all.length) : all.length;
  const elements = typeof padListsTo === 'number' ? lists * padListsTo : c.result.valid + (lists - all.length) * c.result.groups.smallest;
  if (elements > MAX_LIST_ELEMENTS) stop(`More than ${MAX_LIST_ELEMENTS} list elements (records and padding) in one join.`);
  // The value holder's policy, as the agreement states it, refuses lists it finds too many or too small.
  const valuesParty = c.agreement.parties.find((p) => p.role === 'values');
  const maxLists = valuesParty?.policy?.maxLists;
  const minListSize = valuesParty?.policy?.minListSize;
  if (maxLists !== undefined && lists > maxLists)
    c.result.stops.push({ code: 'POLICY_REFUSED', message: `${lists} lists, more than the value holder's maxLists (${maxLists}) in the agreement.` });
  if (minListSize !== undefined) {
    const small = typeof padListsTo === 'number' ? (padListsTo < minListSize ? lists : 0) : all.filter((n) => n < minListSize).length;
    if (small > 0)
      c.result.stops.push({
        code: 'POLICY_REFUSED',
        message: `${small} of ${lists} lists hold fewer than the value holder's minListSize (${minListSize}) in the agreement.`,
      });
  }
}

/** The join's value holder: identifiers and values as `join values` reads them. */
async function readValues(c: ReadContext, party: AgreementParty): Promise<void> {
  const idColumn = needed(text(c.values['idColumn']), party, 'idColumn');
  const valueColumns = needed(columnList(c.values['valueColumns']), party, 'valueColumns');
  // `join values` declares 1,000,000 when --max-value is not given.
  const maxValue = typeof c.values['maxValue'] === 'number' ? c.values['maxValue'] : 1_000_000;
  const idType = (text(c.values['idType']) ?? 'raw') as IdType;
  Object.assign(c.result.columns, { id: idColumn, values: valueColumns });
  Object.assign(c.result, { idType, maxValue });
  const csv = await openJoinValuesCsv(c.input, {
    idColumn,
    idType,
    valueColumns,
    maxValue,
    onInvalid: 'skip',
    delimiter: c.delimiter,
    onRejected: c.onRejected,
  });
  c.onStyle(csv.style);
  const dup = new DuplicateTally();
  c.result.duplicates = { count: 0, firstRecords: dup.firstRecords, stops: true };
  for await (const r of csv.records) {
    dup.note(r.id, csv.recordsRead);
    c.result.valid++;
  }
  c.result.recordsRead = csv.recordsRead;
  c.result.duplicates.count = dup.count;
  if (dup.count > 0)
    c.result.stops.push({
      code: 'INVALID_ARGUMENT',
      message: 'An identifier occurs twice among the value records; combine its values first.',
      ...(dup.firstRecords[0] === undefined ? {} : { record: dup.firstRecords[0] }),
    });
  const padTo = c.values['padTo'];
  if (typeof padTo === 'number' && c.result.valid > padTo)
    c.result.stops.push({ code: 'INVALID_ARGUMENT', message: `The value records outnumber the agreement's padTo (${padTo}).` });
}

/** The reason of a record the tabulator refused, from the error it raised. */
function tabulatorReason(e: KoppelError): string {
  if (e.message.includes('cell label')) return 'label';
  if (e.message.includes('fewer fields')) return 'field-count';
  if (e.message.includes('record key')) return 'key';
  // Out of the column's bounds (details.column), or not a decimal number at all.
  return 'value';
}

/**
 * An aggregation input party: the records as `aggregate input` tabulates them by the
 * round's codebook (every field count, label and value checked; the run stops at the
 * first invalid record, so every one is reported). Cell keys are not checked.
 */
async function readInput(c: ReadContext, config: RoundConfig): Promise<void> {
  const spec = config.codebook.spec;
  Object.assign(c.result.columns, { dimensions: spec.dimensions.map((d) => d.name), values: spec.values.map((v) => v.name) });
  const csv = await openCsv(c.input, c.delimiter);
  c.onStyle(csv.style);
  const layout = { cells: spec.dimensions.map((d) => columnIndex(csv.header, d.name)), values: spec.values.map((v) => columnIndex(csv.header, v.name)) };
  const tab = new Tabulator(config.codebook);
  const report = new SkipReport(c.onRejected);
  const policy = new RecordPolicy({ fields: csv.header.length, policy: 'skip', wording: POLICY_WORDING.strict, report });
  for await (const b of csv.batches) {
    c.result.recordsRead += b.records.length;
    const rows: string[][] = [];
    const numbers: number[] = [];
    b.records.forEach((r, i) => {
      if (policy.hasFields(r, b.firstRecord + i)) {
        rows.push(r);
        numbers.push(b.firstRecord + i);
      }
    });
    let from = 0;
    while (from < rows.length) {
      const before = tab.records;
      try {
        tab.addRows(rows.slice(from), layout, new Uint8Array(rows.length - from));
        from = rows.length;
      } catch (e) {
        if (!(e instanceof KoppelError)) throw e;
        // The rows before the refused one stay added; the refused one is the next.
        const at = from + (tab.records - before);
        // More records than the codebook allows: every further one is refused too, reading stops.
        if (tab.records >= spec.maxRecordsPerInput) throw e;
        report.add({ record: numbers[at] as number, code: e.code, reason: tabulatorReason(e) });
        from = at + 1;
      }
    }
  }
  c.result.valid = tab.records;
}

/** Runs the check; every error while reading becomes a stop in the result. */
export async function checkInput(
  agreementPath: string,
  partyName: string,
  inPath: string | undefined,
  delimiterText: string,
  report?: RejectReport,
): Promise<CheckResult> {
  const file = readAgreementFile(agreementPath);
  const a = file.agreement;
  const party = agreementParty(a, partyName);
  const role = party.role as CommandRole;
  if (role === 'helper' || role === 'aggregator' || role === 'collector' || role === 'service')
    throw new KoppelError('INVALID_ARGUMENT', `Party ${party.name} is the ${role}, which reads no input file: nothing to check.`);
  const delimiter = parseDelimiter(delimiterText);
  const tally = new ReasonTally();
  const result: CheckResult = {
    command: 'check',
    agreement: { id: a.id, version: a.version, sha256: agreementHash(a) },
    party: party.name,
    role,
    signaturesVerified: false,
    columns: {},
    recordsRead: 0,
    valid: 0,
    invalid: 0,
    invalidByReason: tally.reasons,
    stops: [],
    wouldStop: false,
  };
  // The round (aggregation) is the agreement's: a malformed one is refused before reading.
  const round = role === 'input' ? readRoundFile(agreementPath) : undefined;
  const c: ReadContext = {
    values: agreementValues(a, role, party),
    input: inputChunks(inPath),
    delimiter,
    onRejected: (r) => {
      tally.add(r);
      report?.add(r);
    },
    result,
    onStyle: (s) => report?.follow(s),
    agreement: a,
    agreementPath,
  };
  try {
    if (a.protocol === 'oprf') await readOprfClient(c, party);
    else if (role === 'server' || role === 'client') await readPsi(c, party, role);
    else if (role === 'groups') await readGroups(c, party);
    else if (role === 'values') await readValues(c, party);
    else await readInput(c, round as RoundConfig);
  } catch (e) {
    if (!(e instanceof KoppelError) || e.code === 'AGREEMENT_INVALID' || e.code === 'IO_ERROR') throw e;
    // Malformed CSV (quoting, not UTF-8), a missing column: the real run stops here too.
    result.stops.unshift(stopOf(e));
  }
  result.invalid = tally.reasons.reduce((s, r) => s + r.count, 0);
  if (result.recordsRead < result.valid + result.invalid) result.recordsRead = result.valid + result.invalid;
  result.wouldStop = result.invalid > 0 || result.stops.length > 0;
  return result;
}

const list = (xs: readonly number[], total: number) => `record${xs.length === 1 ? '' : 's'} ${xs.join(', ')}${total > xs.length ? ', ...' : ''}`;

/** The result as text for people (counts and record numbers only). */
export function describeCheck(r: CheckResult): string {
  const cols = Object.entries(r.columns)
    .map(([what, v]) => `${what}: ${typeof v === 'string' ? v : v.join(', ')}`)
    .join('; ');
  const lines = [
    `koppel check: agreement ${r.agreement.id} version ${r.agreement.version} (sha256 ${r.agreement.sha256}), party ${r.party} (${r.role})`,
    '  signatures: not verified by this check (koppel agreement verify checks them); nobody was contacted',
    `  columns: ${cols || '(none)'}${r.idType ? `; id type ${r.idType}` : ''}`,
    `  records: ${formatCount(r.recordsRead)} read, ${formatCount(r.valid)} valid, ${formatCount(r.invalid)} invalid`,
    ...r.invalidByReason.map((x) => `    ${x.code}/${x.reason}: ${formatCount(x.count)} (${list(x.firstRecords, x.count)})`),
    ...(r.duplicates
      ? [
          `  duplicates: ${formatCount(r.duplicates.count)}${r.duplicates.count ? ` (${list(r.duplicates.firstRecords, r.duplicates.count)}; ${r.duplicates.stops ? 'the run refuses them' : 'matched once'})` : ''}`,
        ]
      : []),
    ...(r.groups
      ? [
          `  groups: ${formatCount(r.groups.count)} (smallest ${formatCount(r.groups.smallest)}, largest ${formatCount(r.groups.largest)} records; ${formatCount(r.groups.belowMinCount)} below the minimum count)`,
        ]
      : []),
    ...r.stops.map((s) => `  stops: ${s.code}${s.record === undefined ? '' : ` at record ${s.record}`}: ${s.message}`),
    r.wouldStop
      ? r.stops.length > 0
        ? '  result: the real run would stop, whatever --on-invalid says'
        : r.role === 'input'
          ? '  result: the real run would stop at the first invalid record (an aggregation input counts every record)'
          : `  result: the real run would stop with --on-invalid error; with --on-invalid skip it would leave ${formatCount(r.invalid)} record${r.invalid === 1 ? '' : 's'} out`
      : '  result: the real run would read this input without stopping',
  ];
  return lines.join('\n') + '\n';
}

/** Registers `koppel check`. */
export function checkCommand(program: Command, io: Console): void {
  program
    .command('check')
    .description(
      "Dry run of one party's input under a linking agreement: reads it as the real run would and reports counts and record numbers (never values); contacts nobody.",
    )
    .requiredOption('--agreement <file>', 'the linking agreement (its signatures are not verified here)')
    .requiredOption('--party <name>', 'the party whose input this is (its name in the agreement)')
    .option('--in <file>', 'the input CSV with a header row; "-" or absent: stdin')
    .option('--delimiter <d>', 'field delimiter: "," ";" or "tab"', ',')
    .option(
      '--report <file>',
      'also write every invalid record (record number, code, reason; never values) as CSV, as the real run with --on-invalid skip --report does',
    )
    .addOption(new Option('--summary <format>', 'the report on stdout: text, or one JSON object').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      '\nExit status: 0 when the real run would read the input without stopping, 1 when the real run\nwith --on-invalid error would stop (an invalid record, a duplicate, malformed CSV, a missing column).',
    )
    .action(async (flags: CheckFlags) => {
      const report = openRejectReport(flags.report);
      let result: CheckResult;
      try {
        result = await checkInput(flags.agreement, flags.party, flags.in, flags.delimiter, report);
        await report?.commit();
      } catch (e) {
        await report?.abort();
        throw e;
      }
      io.out(flags.summary === 'json' || currentLogFormat() === 'json' ? JSON.stringify(result) + '\n' : describeCheck(result));
      if (result.wouldStop) {
        // Where the real run with --on-invalid error stops first: the earliest record named.
        const firsts = [
          ...result.invalidByReason.map((x) => ({ code: x.code, record: x.firstRecords[0] })),
          ...result.stops.map((x) => ({ code: x.code, record: x.record })),
        ];
        const numbered = firsts.filter((x) => x.record !== undefined).sort((x, y) => (x.record as number) - (y.record as number));
        const first = numbered[0] ?? firsts[0];
        const record = first?.record;
        throw new KoppelError(
          'CHECK_FAILED',
          `The real run would stop: ${result.invalid} invalid record${result.invalid === 1 ? '' : 's'}, ${result.stops.length} other stop${result.stops.length === 1 ? '' : 's'}${record === undefined ? '' : `, the first at record ${record}`} (${first?.code ?? 'unknown'}); fix the input, or the agreement, before the run.`,
          { details: { ...(record === undefined ? {} : { record }), invalid: result.invalid, stops: result.stops.length } },
        );
      }
    });
}
