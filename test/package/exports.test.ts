/**
 * The public surface: the root keeps every name of the interface contract
 * (shared design notes, "Library"), each capability loads by name from its own subpath,
 * and internals stay out of the root.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runNode } from '../helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Runs an ES module script in a directory where `koppel` resolves to this checkout, by name. */
async function runAsUser(script: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'koppel-esm-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'koppel'), 'dir');
  try {
    const r = await runNode(['--input-type=module', '-e', script], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CONTRACT = [
  'generateKey',
  'exportKey',
  'importKey',
  'Pseudonymiser',
  'normaliseBsn',
  'isValidBsn',
  'KoppelError',
  'createMemoryChannelPair',
  'listen',
  'connect',
  'psiServer',
  'psiClient',
];
const SUBPATHS: Record<string, string[]> = {
  pseudonymise: ['generateKey', 'Pseudonymiser', 'normaliseBsn', 'pseudonymiseCsv', 'INVALID_POLICIES'],
  oprf: ['startOprfService', 'OprfPseudonymiser', 'oprfPseudonymiseCsv', 'generateOprfKeyFile'],
  psi: ['psiClient', 'psiServer', 'PSI_MODES', 'openPsiServerCsv', 'openPsiClientCsv', 'writePsiMatches'],
  join: ['joinGroups', 'joinValues', 'joinHelper', 'protectJoinTable', 'openJoinGroupsCsv', 'writeJoinTable'],
  aggregate: ['makeCodebook', 'Tabulator', 'submitInput', 'Aggregator', 'collect', 'configHash'],
  disclosure: ['protectTable', 'disclosedEntries', 'DEFAULT_PTABLE', 'TOTAL'],
  transport: ['createMemoryChannelPair', 'listen', 'connect', 'recordingChannel'],
  agreement: ['parseAgreementFile', 'agreementHash', 'signAgreement', 'requireRunnable', 'exchangeReceipts', 'verifyReceipt'],
};
const INTERNAL = ['split', 'expandSeed', 'shareVector', 'perturbation', 'loadRistretto255', 'oprf', 'FastOprf', 'getSuite', 'openCsv', 'discreteLaplace'];

describe('the public surface', () => {
  it('the root exports every name of the interface contract and no internal', async () => {
    const out = await runAsUser(`const k = await import('koppel'); console.log(JSON.stringify(Object.keys(k)));`);
    const names = JSON.parse(out) as string[];
    for (const n of CONTRACT) expect(names, n).toContain(n);
    for (const n of INTERNAL) expect(names, n).not.toContain(n);
  });

  it('every capability loads by name from its subpath, with its entry points', async () => {
    const script = Object.keys(SUBPATHS)
      .map((s) => `out[${JSON.stringify(s)}] = Object.keys(await import('koppel/${s}'));`)
      .join('\n');
    const got = JSON.parse(await runAsUser(`const out = {};\n${script}\nconsole.log(JSON.stringify(out));`)) as Record<string, string[]>;
    for (const [sub, names] of Object.entries(SUBPATHS)) for (const n of names) expect(got[sub], `koppel/${sub}: ${n}`).toContain(n);
    expect(got['aggregate']).not.toContain('split');
    expect(got['disclosure']).not.toContain('perturbation');
  });

  it('a path that is no subpath is refused by name', async () => {
    const out = await runAsUser(`try { await import('koppel/session'); console.log('loaded'); } catch (e) { console.log(e.code); }`);
    expect(out).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });
});
