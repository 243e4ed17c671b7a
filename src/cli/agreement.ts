/**
 * `koppel agreement init|show|sign|verify`, and `--agreement FILE` on every networked
 * command: the run takes its parameters and peer pins from the agreement, refuses a flag
 * that contradicts it, and refuses to start unless every party signed and the date is
 * inside the validity period (docs/agreement.md).
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import {
  AGREEMENT_FORMAT,
  AGREEMENT_ROLES,
  agreementHash,
  parseAgreementFile,
  type Agreement,
  type AgreementFile,
  type AgreementParty,
  type AgreementProtocol,
} from '../agreement/agreement.js';
import { certificateMatches } from '../agreement/signature.js';
import { agreementStatus, requireRunnable, signAgreement } from '../agreement/verify.js';
import { isLeft } from '../util/cjs.js';
import type { Command } from './commander.js';
import { readTextFile, writeOutput } from './io.js';
import type { Console } from './program.js';

/** Reads and decodes an agreement file (its path in errors; never its content). */
export function readAgreementFile(path: string): AgreementFile {
  const r = parseAgreementFile(readTextFile(path, 'agreement file'));
  if (isLeft(r)) throw new KoppelError(r.left.code, `${path}: ${r.left.message}`, { details: { path } });
  return r.right;
}

/** The role a networked command plays in an agreement. */
export type CommandRole = 'server' | 'client' | 'groups' | 'values' | 'helper' | 'input' | 'aggregator' | 'collector' | 'service';

/** The protocol a role belongs to unless a command says otherwise (`pseudonymise --oprf` is an oprf client). */
const PROTOCOL_OF: Record<CommandRole, AgreementProtocol> = {
  server: 'psi',
  client: 'psi',
  groups: 'join',
  values: 'join',
  helper: 'join',
  input: 'aggregate',
  aggregator: 'aggregate',
  collector: 'aggregate',
  service: 'oprf',
};

/** What a command's flags hold once an agreement is applied (for summaries and meta). */
export interface AgreementFlags {
  readonly agreement?: string;
  /** Set from the agreement: its hash, id and version, and this party's name. */
  readonly agreementRun?: { readonly hash: string; readonly id: string; readonly version: number; readonly party: string };
}

function pinOf(parties: readonly AgreementParty[]): Record<string, string> {
  const names = parties.flatMap((p) => p.certificate.names ?? []);
  const fps = parties.flatMap((p) => p.certificate.fingerprints ?? []);
  return { ...(names.length ? { peer: names.join(',') } : {}), ...(fps.length ? { peerFingerprint: fps.join(',') } : {}) };
}

function rolePinOf(role: 'helper' | 'collector', parties: readonly AgreementParty[]): Record<string, string> {
  const p = pinOf(parties);
  return {
    ...(p['peer'] ? { [`${role}Peer`]: p['peer'] } : {}),
    ...(p['peerFingerprint'] ? { [`${role}PeerFingerprint`]: p['peerFingerprint'] } : {}),
  };
}

const list = (xs: readonly string[] | undefined) => (xs === undefined ? undefined : xs.join(','));

/**
 * The option values an agreement fixes for `party` in `role` (commander attribute
 * names): shared parameters, the party's input and policy, and the peer pins.
 */
export function agreementValues(a: Agreement, role: CommandRole, party: AgreementParty | undefined): Record<string, string | number | boolean> {
  const others = (r: string) => a.parties.filter((p) => p.role === r);
  const out: Record<string, string | number | boolean | undefined> = {};
  const prm = a.parameters;
  if (a.protocol === 'oprf') Object.assign(out, oprfValues(a, role, party));
  if (a.protocol === 'join') Object.assign(out, { variant: prm.variant, suite: prm.suite });
  if (a.protocol === 'psi') Object.assign(out, { mode: prm.mode, suite: prm.suite });
  const inp = party?.input ?? {};
  const pol = party?.policy ?? {};
  if (a.protocol === 'psi' && (role === 'server' || role === 'client')) {
    Object.assign(out, {
      column: inp.idColumn,
      idType: inp.idType,
      padTo: pol.padTo,
      ...(role === 'server' ? { payloadColumns: list(inp.payloadColumns) } : {}),
    });
    Object.assign(out, pinOf(others(role === 'server' ? 'client' : 'server')));
  }
  if (role === 'groups' || role === 'values') {
    Object.assign(out, { idColumn: inp.idColumn, idType: inp.idType, minCount: pol.minCount });
    if (role === 'groups') {
      const values = others('values')[0];
      Object.assign(out, {
        groupColumns: list(inp.groupColumns),
        protection: pol.protection,
        valueProtection: pol.valueProtection,
        secondary: pol.secondary,
        totals: pol.totals,
        padListsTo: pol.padListsTo,
        padGroupsTo: pol.padGroupsTo,
        expectValueColumns: list(values?.input?.valueColumns),
        // The largest maximum A accepts from B: its own input.maxValue, else the one the
        // agreement fixes for the value holder (so an agreement's run never refuses itself).
        maxValue: inp.maxValue ?? values?.input?.maxValue,
      });
    } else {
      Object.assign(out, {
        valueColumns: list(inp.valueColumns),
        maxValue: inp.maxValue,
        padTo: pol.padTo,
        maxLists: pol.maxLists,
        minListSize: pol.minListSize,
      });
    }
    Object.assign(out, pinOf(others(role === 'groups' ? 'values' : 'groups')));
    if (prm.variant === 'helper') Object.assign(out, rolePinOf('helper', others('helper')));
  }
  if (role === 'helper') Object.assign(out, pinOf([...others('groups'), ...others('values')]));
  if (role === 'input') Object.assign(out, pinOf(others('aggregator')), party ? { party: party.name } : {});
  if (role === 'aggregator') {
    Object.assign(out, pinOf(others('input')), rolePinOf('collector', others('collector')));
    // The agreement lists the aggregators in index order: --index follows from the party.
    const at = party ? others('aggregator').indexOf(party) : -1;
    if (at >= 0) out['index'] = at;
  }
  if (role === 'collector') Object.assign(out, pinOf(others('aggregator')), { threshold: pol.threshold });
  return Object.fromEntries(Object.entries(out).filter((e): e is [string, string | number | boolean] => e[1] !== undefined));
}

/**
 * The oprf agreement's values: the service serves the clients pinned by certificate
 * (and one budget flag when every client has the same); a client takes the mode, the key
 * id, its identifier column and id type, and pins the service.
 */
function oprfValues(a: Agreement, role: CommandRole, party: AgreementParty | undefined): Record<string, string | number | undefined> {
  const others = (r: string) => a.parties.filter((p) => p.role === r);
  if (role === 'service') {
    const clients = others('client');
    const one = (xs: Array<number | undefined>) => (xs.length > 0 && xs.every((x) => x !== undefined && x === xs[0]) ? xs[0] : undefined);
    return {
      ...pinOf(clients),
      budget: one(clients.map((c) => c.policy?.budget)),
      budgetPeriod: one(clients.map((c) => c.policy?.budgetPeriod)),
    };
  }
  if (role !== 'client') return {};
  const prm = a.parameters;
  return { mode: prm.mode, kid: prm.kid, column: party?.input?.idColumn, idType: party?.input?.idType, ...pinOf(others('service')) };
}

/** The values every one of `parties` has alike: what an agreement fixes before it is known which of them this is. */
function commonValues(a: Agreement, role: CommandRole, parties: readonly AgreementParty[]): Record<string, string | number | boolean> {
  const each = parties.map((p) => agreementValues(a, role, p));
  const [first, ...rest] = each;
  if (!first) return agreementValues(a, role, undefined);
  return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((x) => x[k] === v)));
}

/** The party this command plays: the only one of its role, or the one `name` (or this certificate) picks. */
function partyFor(a: Agreement, role: CommandRole, name: string | undefined, cert: string | undefined): AgreementParty | undefined {
  const candidates = a.parties.filter((p) => p.role === role);
  if (name !== undefined) return candidates.find((p) => p.name === name);
  if (candidates.length === 1) return candidates[0];
  if (cert !== undefined) return candidates.find((p) => certificateMatches(cert, p.certificate));
  return undefined;
}

function same(a: unknown, b: unknown): boolean {
  const norm = (x: unknown) =>
    typeof x === 'string'
      ? x
          .split(',')
          .map((s) => s.trim())
          .join(',')
      : String(x);
  return norm(a) === norm(b);
}

/** The long flag of a commander attribute name, for messages (`padListsTo` -> `--pad-lists-to`). */
function flagOf(attribute: string): string {
  return `--${attribute.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * Adds `--agreement FILE` to a networked command. Reading the flag sets every value the
 * agreement fixes (so required flags it supplies need not be typed); before the action
 * runs, it checks that no flag typed on the command line contradicts the agreement,
 * that this party's certificate is the agreement's, that every party signed under the
 * CA and that the date is inside the validity period.
 */
export function withAgreement(cmd: Command, role: CommandRole, protocol: AgreementProtocol = PROTOCOL_OF[role]): Command {
  cmd.option('--agreement <file>', 'run under this signed linking agreement: its parameters and peers; contradicting flags are refused (docs/agreement.md)');
  let file: AgreementFile | undefined;
  let fixed: Record<string, string | number | boolean> = {};
  cmd.on('option:agreement', (path: string) => {
    file = readAgreementFile(path);
    if (file.agreement.protocol !== protocol || !(AGREEMENT_ROLES[file.agreement.protocol] as readonly string[]).includes(role))
      throw new KoppelError('AGREEMENT_INVALID', `${path}: the agreement governs ${file.agreement.protocol}, not this command.`);
    const party = partyFor(file.agreement, role, undefined, undefined);
    // Several parties of this role (an oprf agreement's clients): what they all share, until the certificate says which.
    fixed =
      party || file.agreement.protocol !== 'oprf'
        ? agreementValues(file.agreement, role, party)
        : commonValues(
            file.agreement,
            role,
            file.agreement.parties.filter((p) => p.role === role),
          );
    for (const [k, v] of Object.entries(fixed)) if (cmd.getOptionValueSource(k) !== 'cli') cmd.setOptionValueWithSource(k, v, 'config');
    // An aggregation agreement carries its round: --round may name the agreement itself.
    if (file.agreement.protocol === 'aggregate' && cmd.getOptionValueSource('round') !== 'cli') cmd.setOptionValueWithSource('round', path, 'config');
  });
  cmd.hook('preAction', (c) => {
    if (!file) return;
    const o = c.opts<Record<string, unknown>>();
    if (o['insecure'])
      throw new KoppelError(
        'INVALID_ARGUMENT',
        'An agreement pins its parties by certificate: run it over mutual TLS (--tls-cert, --tls-key, --tls-ca), not --insecure.',
      );
    if (o['anyPeer']) throw new KoppelError('INVALID_ARGUMENT', '--any-peer contradicts the agreement, which names its parties.');
    const cert = typeof o['tlsCert'] === 'string' ? readTextFile(o['tlsCert'], 'TLS certificate') : undefined;
    const ca = typeof o['tlsCa'] === 'string' ? readTextFile(o['tlsCa'], 'TLS CA certificate') : undefined;
    if (!cert || !ca) throw new KoppelError('INVALID_ARGUMENT', 'A run under an agreement needs --tls-cert, --tls-key and --tls-ca.');
    const party = partyFor(file.agreement, role, typeof o['party'] === 'string' ? o['party'] : undefined, cert);
    if (!party) throw new KoppelError('AGREEMENT_INVALID', `The agreement names no ${role} party with this certificate.`);
    if (!certificateMatches(cert, party.certificate))
      throw new KoppelError('AGREEMENT_INVALID', `This party's certificate (--tls-cert) is not the one the agreement names for ${party.name}.`);
    const want = agreementValues(file.agreement, role, party);
    for (const [k, v] of Object.entries(want)) {
      const source = c.getOptionValueSource(k);
      if (source === 'cli' && !same(o[k], v))
        throw new KoppelError(
          'INVALID_ARGUMENT',
          `${flagOf(k)} contradicts the agreement (${file.agreement.id}), which fixes it; leave it out or change the agreement.`,
          {
            details: { flag: flagOf(k) },
          },
        );
      if (source !== 'cli') c.setOptionValueWithSource(k, v, 'config');
    }
    for (const k of Object.keys(fixed)) if (!(k in want) && c.getOptionValueSource(k) === 'config') c.setOptionValueWithSource(k, undefined, 'default');
    const hash = requireRunnable(file, ca);
    c.setOptionValueWithSource('agreementRun', { hash, id: file.agreement.id, version: file.agreement.version, party: party.name }, 'config');
  });
  return cmd;
}

/** The subcommand `name` of `parent` (registered just before). */
export function subcommand(parent: Command, name: string): Command {
  const c = parent.commands.find((x) => x.name() === name);
  if (!c) throw new KoppelError('INTERNAL', `No subcommand ${name}.`);
  return c;
}

/** Registers `koppel agreement init|show|sign|verify`. */
export function agreementCommand(program: Command, io: Console): void {
  const ag = program
    .command('agreement')
    .description('Linking agreements: what the parties agreed (protocol, parameters, columns, policies, validity), signed by each.');

  ag.command('init')
    .description('Write a new, unsigned agreement: the parties and protocol from flags; edit the JSON for columns and policies (docs/agreement.md).')
    .requiredOption('--protocol <name>', 'psi, join, aggregate or oprf')
    .requiredOption('--id <id>', "the agreement's id, e.g. cbs-logius-2026-12")
    .requiredOption(
      '--party <name:role:cert>',
      'a party: its name, role and certificate name (or sha256:HEX), e.g. cbs:groups:cbs.example; repeat for each',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--purpose <text>', 'the purpose of the linkage', '')
    .option('--legal-basis <text>', 'the legal basis (e.g. a GDPR art. 6 ground and the national law)', '')
    .option('--valid-from <time>', 'start of validity (ISO 8601; default now)')
    .option('--valid-days <n>', 'days of validity', (v) => Number(v), 90)
    .option(
      '--set <path=json>',
      'set a field, e.g. parameters.variant="helper" or parties.cbs.input.groupColumns=["province"]',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--mode <mode>', 'oprf: the service mode every client uses, voprf (default: proofs checked) or oprf')
    .option('--kid <id>', 'oprf: the service key id every client pins (default: the service\u2019s current key of the mode)')
    .option('--budget <n>', 'oprf: evaluations per budget period of every client', parseWhole('--budget'))
    .option('--budget-period <seconds>', 'oprf: the budget period of every client, in seconds', parseWhole('--budget-period'))
    .option('--id-column <name>', 'oprf: the identifier column of every client')
    .option('--id-type <type>', 'oprf: the id type of every client (bsn, email, raw)')
    .option('--out <file>', 'the agreement file; "-" or absent: stdout')
    .action(
      (f: {
        mode?: string;
        kid?: string;
        budget?: number;
        budgetPeriod?: number;
        idColumn?: string;
        idType?: string;
        protocol: string;
        id: string;
        party: string[];
        purpose: string;
        legalBasis: string;
        validFrom?: string;
        validDays: number;
        set?: string[];
        out?: string;
      }) => {
        if (!(f.protocol in AGREEMENT_ROLES)) throw new KoppelError('INVALID_ARGUMENT', '--protocol must be psi, join, aggregate or oprf.');
        const from = f.validFrom ? new Date(f.validFrom) : new Date();
        if (Number.isNaN(from.getTime()) || !Number.isFinite(f.validDays) || f.validDays <= 0)
          throw new KoppelError('INVALID_ARGUMENT', '--valid-from must be an ISO 8601 time and --valid-days a positive number.');
        const parties = f.party.map((spec) => {
          const m = /^([^:]+):([^:]+):(.+)$/.exec(spec);
          if (!m) throw new KoppelError('INVALID_ARGUMENT', '--party takes name:role:certificate-name (or name:role:sha256:HEX).');
          const [, name, role, cert] = m as unknown as [string, string, string, string];
          const certificate = cert.startsWith('sha256:') ? { fingerprints: [cert.slice(7)] } : { names: [cert] };
          return { name, role, certificate, input: {}, policy: {} };
        });
        const agreement: Record<string, unknown> = {
          koppelAgreement: AGREEMENT_FORMAT,
          id: f.id,
          version: 1,
          purpose: f.purpose,
          legalBasis: f.legalBasis,
          validity: { notBefore: from.toISOString(), notAfter: new Date(from.getTime() + f.validDays * 86_400_000).toISOString() },
          protocol: f.protocol,
          parameters: {},
          parties,
        };
        applyOprfFlags(agreement, f);
        for (const s of f.set ?? []) setPath(agreement, s);
        const text = JSON.stringify({ agreement, signatures: [] }, null, 2) + '\n';
        const checked = parseAgreementFile(text);
        if (isLeft(checked)) throw checked.left;
        writeOutput(f.out, text);
        io.err(
          `koppel: agreement ${f.id}: written, unsigned (sha256 ${agreementHash(checked.right.agreement)}); each party signs it with \`koppel agreement sign\``,
        );
      },
    );

  ag.command('show')
    .description('Print an agreement for people: parties, parameters, columns, policies, validity, signatures.')
    .argument('<file>', 'the agreement file')
    .option('--tls-ca <file>', 'also check the signatures against this CA')
    .action((path: string, f: { tlsCa?: string }) => {
      const file = readAgreementFile(path);
      io.out(describeAgreement(file, f.tlsCa ? readTextFile(f.tlsCa, 'TLS CA certificate') : undefined));
    });

  ag.command('sign')
    .description("Add this party's signature, made with its TLS key (the certificate the agreement names for it).")
    .argument('<file>', 'the agreement file (rewritten in place unless --out)')
    .requiredOption('--party <name>', 'the party that signs')
    .requiredOption('--tls-cert <file>', "this party's certificate (PEM)")
    .requiredOption('--tls-key <file>', "this party's private key (PEM)")
    .option('--out <file>', 'write the signed agreement here instead')
    .action((path: string, f: { party: string; tlsCert: string; tlsKey: string; out?: string }) => {
      const file = readAgreementFile(path);
      const signed = signAgreement(file, f.party, { cert: readTextFile(f.tlsCert, 'TLS certificate'), key: readTextFile(f.tlsKey, 'TLS key') });
      writeOutput(f.out ?? path, JSON.stringify(signed, null, 2) + '\n');
      const missing = signed.agreement.parties.map((p) => p.name).filter((n) => !signed.signatures.some((s) => s.party === n));
      io.err(
        `koppel: agreement ${signed.agreement.id}: signed by ${f.party}${missing.length ? `; still to sign: ${missing.join(', ')}` : '; every party has signed'}`,
      );
    });

  ag.command('verify')
    .description('Check every signature against the CA, that every party signed, and the validity period; exit 1 if the agreement cannot be run.')
    .argument('<file>', 'the agreement file')
    .requiredOption('--tls-ca <file>', 'the CA that signed the parties\u2019 certificates')
    .option('--at <time>', 'check validity at this time (ISO 8601; default now)')
    .action((path: string, f: { tlsCa: string; at?: string }) => {
      const file = readAgreementFile(path);
      const at = f.at ? new Date(f.at) : new Date();
      const hash = requireRunnable(file, readTextFile(f.tlsCa, 'TLS CA certificate'), at);
      io.out(
        `agreement ${file.agreement.id} version ${file.agreement.version}: valid; signed by ${file.signatures.map((s) => s.party).join(', ')}; sha256 ${hash}\n`,
      );
    });
}

/** A whole positive number flag. */
function parseWhole(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new KoppelError('INVALID_ARGUMENT', `${flag} takes a whole number of at least 1.`);
    return n;
  };
}

/**
 * `agreement init`'s oprf flags: the suite and mode (voprf unless `--mode`), the key id,
 * and every client's identifier column, id type, budget and budget period. Refused for
 * another protocol, so that no flag is silently dropped.
 */
function applyOprfFlags(
  agreement: Record<string, unknown>,
  f: { protocol: string; mode?: string; kid?: string; budget?: number; budgetPeriod?: number; idColumn?: string; idType?: string },
): void {
  const given = (['mode', 'kid', 'budget', 'budgetPeriod', 'idColumn', 'idType'] as const).filter((k) => f[k] !== undefined);
  if (f.protocol !== 'oprf') {
    if (given.length > 0)
      throw new KoppelError('INVALID_ARGUMENT', `${flagOf(given[0] as string)} is a flag of an oprf agreement; use --set for ${f.protocol}.`);
    return;
  }
  if (f.mode !== undefined && f.mode !== 'oprf' && f.mode !== 'voprf')
    throw new KoppelError('INVALID_ARGUMENT', '--mode of an oprf agreement is voprf or oprf.');
  agreement['parameters'] = { suite: 'ristretto255-SHA512', mode: f.mode ?? 'voprf', ...(f.kid !== undefined ? { kid: f.kid } : {}) };
  for (const p of agreement['parties'] as Array<{ role: string; input: Record<string, unknown>; policy: Record<string, unknown> }>) {
    if (p.role !== 'client') continue;
    if (f.idColumn !== undefined) p.input['idColumn'] = f.idColumn;
    if (f.idType !== undefined) p.input['idType'] = f.idType;
    if (f.budget !== undefined) p.policy['budget'] = f.budget;
    if (f.budgetPeriod !== undefined) p.policy['budgetPeriod'] = f.budgetPeriod;
  }
}

/** `--set a.b.c=JSON` (a party by name under `parties`). */
function setPath(root: Record<string, unknown>, spec: string): void {
  const eq = spec.indexOf('=');
  if (eq < 1) throw new KoppelError('INVALID_ARGUMENT', '--set takes path=value, e.g. parameters.variant="helper".');
  const path = spec.slice(0, eq).split('.');
  const raw = spec.slice(eq + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  let at: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string;
    let next: unknown;
    if (Array.isArray(at)) next = (at as Array<Record<string, unknown>>).find((p) => p['name'] === key);
    else if (typeof at === 'object' && at !== null) {
      const o = at as Record<string, unknown>;
      o[key] ??= {};
      next = o[key];
    }
    if (typeof next !== 'object' || next === null) throw new KoppelError('INVALID_ARGUMENT', `--set: no field ${path.slice(0, i + 1).join('.')}.`);
    at = next;
  }
  (at as Record<string, unknown>)[path[path.length - 1] as string] = value;
}

/** An agreement as text for people. */
export function describeAgreement(file: AgreementFile, ca?: string): string {
  const a = file.agreement;
  const st = ca ? agreementStatus(file, ca) : undefined;
  const lines = [
    `Agreement ${a.id}, version ${a.version} (sha256 ${agreementHash(a)})`,
    `Protocol: ${a.protocol}${
      Object.keys(a.parameters).length
        ? ` (${Object.entries(a.parameters)
            .map(([k, v]) => `${k} ${String(v)}`)
            .join(', ')})`
        : ''
    }`,
    `Purpose: ${a.purpose || '(not stated)'}`,
    `Legal basis: ${a.legalBasis || '(not stated)'}`,
    `Valid: from ${a.validity.notBefore} to ${a.validity.notAfter}`,
    'Parties:',
    ...a.parties.flatMap((p) => [
      `  ${p.name} (${p.role})${p.organisation ? `, ${p.organisation}` : ''}${p.contact ? `, contact ${p.contact}` : ''}`,
      `    certificate: ${[...(p.certificate.names ?? []), ...(p.certificate.fingerprints ?? []).map((x) => `sha256 ${x}`)].join(', ')}`,
      ...(p.input && Object.keys(p.input).length ? [`    input: ${JSON.stringify(p.input)}`] : []),
      ...(p.policy && Object.keys(p.policy).length ? [`    policy: ${JSON.stringify(p.policy)}`] : []),
    ]),
    ...(a.round ? [`Round: ${JSON.stringify(a.round)}`] : []),
    'Signatures:',
    ...(file.signatures.length === 0 ? ['  none yet'] : file.signatures.map((s) => `  ${s.party}, ${s.signedAt}`)),
    ...(st
      ? [
          `Check against the CA: ${st.problems.length === 0 && st.missing.length === 0 && st.validity === 'inside' ? 'valid, every party signed' : 'NOT runnable'}`,
          ...st.problems.map((p) => `  ${p.party}: ${p.reason}`),
          ...(st.missing.length ? [`  still to sign: ${st.missing.join(', ')}`] : []),
          ...(st.validity !== 'inside' ? [`  ${st.validity === 'before' ? 'not valid yet' : 'expired'}`] : []),
        ]
      : []),
  ];
  return lines.join('\n') + '\n';
}
