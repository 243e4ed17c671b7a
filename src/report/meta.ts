/**
 * What the report reads from a run's metadata (the JSON of `--meta` of `koppel join
 * groups` and `koppel aggregate collect`): which command wrote it, the parameters, the
 * peers, the agreement and receipt where there are ones, and, from the parameters, what
 * each party learned. The metadata is read field by field with type checks: a file given
 * to `koppel report --meta` may come from anywhere, and a field of the wrong type is left
 * out, never trusted.
 *
 * @packageDocumentation
 */

/** A JSON object, as the metadata's fields are read. */
export type JsonObject = { readonly [key: string]: unknown };

/** The kind of run the metadata describes. */
export type RunKind = 'join groups' | 'aggregate collect' | 'unknown';

/** One party of the run as the report names it: a role, its identity and what it learned. */
export interface PartyLearned {
  /** The role, e.g. "group holder (this side)". */
  readonly role: string;
  /** The party's identity as the run saw it (certificate name and fingerprint), if known. */
  readonly identity: string;
  /** What this party learned, one item a line. */
  readonly learned: readonly string[];
}

/** The metadata as the report shows it. */
export interface ReportMeta {
  /** Which command wrote it. */
  readonly kind: RunKind;
  /** Parameters as name and value text. */
  readonly parameters: ReadonlyArray<readonly [string, string]>;
  /** Counts the run states (records read, skipped, ...), as name and value text. */
  readonly counts: ReadonlyArray<readonly [string, string]>;
  /** The parties, their identities and what each learned. */
  readonly parties: readonly PartyLearned[];
  /** The disclosure parameters: threshold, protection levels, secondary suppression, cell key, noise. */
  readonly disclosure: ReadonlyArray<readonly [string, string]>;
  /** The agreement the run was made under, if the metadata has one. */
  readonly agreement?: JsonObject | string;
  /** The receipt of the run, if the metadata has one. */
  readonly receipt?: JsonObject | string;
  /** Inputs and outputs with their SHA-256, as the run recorded them. */
  readonly files: ReadonlyArray<{ readonly role: 'input' | 'output'; readonly path: string; readonly sha256: string; readonly bytes: string }>;
  /** When the run started and finished (ISO 8601), if recorded. */
  readonly times: { readonly startedAt?: string; readonly finishedAt?: string };
  /** The koppel version that ran, if recorded. */
  readonly version?: string;
}

function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function str(x: unknown): string | undefined {
  return typeof x === 'string' ? x : undefined;
}

function num(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/** A metadata value as text: strings as they are, numbers and booleans plainly, arrays and objects as compact JSON. */
export function valueText(x: unknown): string {
  if (typeof x === 'string') return x;
  if (typeof x === 'number' || typeof x === 'boolean' || x === null) return String(x);
  return JSON.stringify(x) ?? '';
}

function entries(o: unknown): Array<readonly [string, string]> {
  return isObject(o) ? Object.entries(o).map(([k, v]) => [k, valueText(v)] as const) : [];
}

/** A peer summary (`{name, fingerprint, authenticated, address}`) as one line. */
export function peerIdentity(p: unknown): string {
  if (!isObject(p)) return 'not recorded';
  if (p['authenticated'] !== true) return `unauthenticated (plain TCP, --insecure)${str(p['address']) ? ` from ${str(p['address'])}` : ''}`;
  return `certificate "${str(p['name']) ?? ''}", SHA-256 ${str(p['fingerprint']) ?? 'unknown'}`;
}

function kindOf(meta: JsonObject): RunKind {
  if (meta['command'] === 'join groups') return 'join groups';
  if (meta['command'] === 'aggregate collect' || (typeof meta['round'] === 'string' && isObject(meta['disclosure']))) return 'aggregate collect';
  return 'unknown';
}

function joinParties(meta: JsonObject): PartyLearned[] {
  const p = isObject(meta['parameters']) ? meta['parameters'] : {};
  const c = isObject(meta['counts']) ? meta['counts'] : {};
  const columns = Array.isArray(p['valueColumns']) ? p['valueColumns'].filter((x): x is string => typeof x === 'string') : [];
  const bMin = num(p['valueHolderMinCount']);
  const lists = num(p['padGroupsTo']) ?? num(c['groups']);
  const padLists = num(p['padListsTo']);
  const parties: PartyLearned[] = [
    {
      role: 'group holder (party A, wrote this report)',
      identity: 'this side',
      learned: [
        'per group, how many of its records matched (exact, before disclosure control);',
        `per group, the sums of the value columns over the matches, for groups with no match or at least ${bMin ?? "the value holder's minimum count"} matches;`,
        `the size of the value holder's list (${num(c['valueRecords']) ?? 'not recorded'} records);`,
        `the value holder's column names (${columns.join(', ') || 'not recorded'}), declared maximum value (${valueText(p['maxValue'] ?? 'not recorded')}) and minimum count (${bMin ?? 'not recorded'}).`,
        'No identifier, pseudonym or individual value of the other party.',
      ],
    },
    {
      role: 'value holder (party B)',
      identity: peerIdentity(meta['peer']),
      learned: [
        `the number of the group holder's lists (${lists ?? 'not recorded'}${num(p['padGroupsTo']) !== undefined ? ', the padding bound' : ''});`,
        padLists !== undefined ? `the size of each list: all padded to ${padLists};` : "the size of each list (the group holder's group sizes; not padded);",
        'nothing else: not the group labels, not which records matched, not the table (unless it is published to B).',
      ],
    },
  ];
  if (p['variant'] === 'helper') {
    parties.push({
      role: 'helper',
      identity: peerIdentity(meta['helperPeer']),
      learned: [
        "the number of lists, the value holder's list size, the number of value columns and the value holder's minimum count;",
        'per (relabelled, unnamed) list how many records matched: the anonymous histogram of group sizes;',
        'nothing else, unless it colludes with a party.',
      ],
    });
  }
  return parties;
}

function aggregateParties(meta: JsonObject): PartyLearned[] {
  const ids = Array.isArray(meta['parties']) ? meta['parties'].filter((x): x is string => typeof x === 'string') : [];
  const aggregators = Array.isArray(meta['aggregators']) ? meta['aggregators'] : [];
  const noise = isObject(meta['noise']) ? valueText(meta['noise']['distribution']) : 'not recorded';
  const certified = meta['partyIds'] === 'certificates';
  return [
    {
      role: `input parties (${ids.length})`,
      identity: `${ids.join(', ') || 'none recorded'} (${certified ? 'ids checked against their certificates' : 'ids as the parties claimed them: not authenticated'})`,
      learned: ['nothing about the other inputs.'],
    },
    ...aggregators.map((a, j): PartyLearned => ({
      role: `aggregator ${j}`,
      identity: peerIdentity(a),
      learned: [
        'one share per input: a seed or a uniformly random vector, nothing about the input;',
        'the ids of the parties that submitted, the agreed set and the codebook.',
      ],
    })),
    {
      role: 'collector (wrote this report)',
      identity: 'this side',
      learned: [`the sum over the agreed inputs, before disclosure control (noise: ${noise});`, 'the party ids each aggregator reported; nothing per input.'],
    },
  ];
}

/** The parties' part for any run: the readers of the published table. */
const READERS: PartyLearned = {
  role: 'readers of the released table (and of this report)',
  identity: 'anyone it is published to',
  learned: ['the released table: published counts and sums, totals, which cells were suppressed and by which rule. Nothing before disclosure control.'],
};

function files(meta: JsonObject): ReportMeta['files'] {
  const out: Array<ReportMeta['files'][number]> = [];
  for (const role of ['input', 'output'] as const) {
    const list = meta[`${role}s`];
    if (!Array.isArray(list)) continue;
    for (const f of list) {
      if (!isObject(f)) continue;
      out.push({ role, path: str(f['path']) ?? '', sha256: str(f['sha256']) ?? 'not recorded', bytes: valueText(f['bytes'] ?? '') });
    }
  }
  return out;
}

function document(x: unknown): JsonObject | string | undefined {
  return isObject(x) || typeof x === 'string' ? x : undefined;
}

/**
 * Reads a run's metadata for the report. Unknown fields are kept out of the derived
 * sections but the parameters and counts objects are shown as they are.
 */
export function readReportMeta(json: unknown): ReportMeta {
  const meta = isObject(json) ? json : {};
  const kind = kindOf(meta);
  const agreement = document(meta['agreement']);
  const receipt = document(meta['receipt']);
  let disclosure: Array<readonly [string, string]> = [];
  let parameters: Array<readonly [string, string]> = [];
  let counts: Array<readonly [string, string]> = [];
  let parties: PartyLearned[] = [];
  if (kind === 'join groups') {
    const p = isObject(meta['parameters']) ? meta['parameters'] : {};
    parameters = entries(p);
    counts = entries(meta['counts']).filter(([k]) => k !== 'matched'); // the exact total before disclosure control: the table has the released one
    disclosure = [
      ['threshold rule (minimum matches per published group)', valueText(p['threshold'] ?? p['minCount'] ?? 'not recorded')],
      ["value holder's minimum count (no sums below it)", valueText(p['valueHolderMinCount'] ?? 'not recorded')],
      ['secondary suppression', valueText(p['secondary'] ?? 'not recorded')],
      ['protection level (counts)', valueText(p['protection'] ?? 'not recorded')],
      ['value protection (% of a sum)', valueText(p['valueProtection'] ?? 'not recorded')],
      ['totals published', valueText(p['totals'] ?? 'not recorded')],
    ];
    parties = [...joinParties(meta), READERS];
  } else if (kind === 'aggregate collect') {
    const d = isObject(meta['disclosure']) ? meta['disclosure'] : {};
    parameters = [
      ['round', valueText(meta['round'] ?? '')],
      ['codebook (SHA-256)', valueText(meta['codebook'] ?? 'not recorded')],
      ['inputs summed', valueText(meta['inputs'] ?? 'not recorded')],
      ['inputs dropped (reached only some aggregators)', valueText(meta['dropped'] ?? 'not recorded')],
      ['party ids', valueText(meta['partyIds'] ?? 'not recorded')],
    ];
    disclosure = [
      ['threshold rule (minimum contributors per published cell)', valueText(d['threshold'] ?? 'not recorded')],
      ['secondary suppression', valueText(d['secondary'] ?? 'not recorded')],
      ['protection level (counts)', valueText(d['protection'] ?? 'not recorded')],
      ['value protection (% of a sum)', valueText(d['valueProtection'] ?? 'not recorded')],
      ['cell key method (p-table)', valueText(d['cellKey'] ?? 'none')],
      ['exact sums beside perturbed counts accepted', valueText(d['cellKeyCountsOnly'] ?? false)],
      ['noise added by the aggregators', valueText(meta['noise'] ?? 'not recorded')],
    ];
    parties = [...aggregateParties(meta), READERS];
  }
  const started = str(meta['startedAt']);
  const finished = str(meta['finishedAt']);
  const version = str(meta['koppel']);
  return {
    kind,
    parameters,
    counts,
    parties,
    disclosure,
    ...(agreement === undefined ? {} : { agreement }),
    ...(receipt === undefined ? {} : { receipt }),
    files: files(meta),
    times: {
      ...(started === undefined ? {} : { startedAt: started }),
      ...(finished === undefined ? {} : { finishedAt: finished }),
    },
    ...(version === undefined ? {} : { version }),
  };
}
