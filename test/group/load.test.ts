/**
 * loadSuite: the suites getSuite gives, with ristretto255's module loaded only by a task
 * that needs it, so a PSI worker serving x25519 starts without @noble/curves.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSuite } from '../../src/group/load.js';
import { getSuite, SUITE_NAMES, type SuiteName } from '../../src/group/suite.js';
import { expectCode, runNode } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'koppel-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadSuite', () => {
  it.each(SUITE_NAMES)('gives the same %s suite object as getSuite', async (name) => {
    expect(await loadSuite(name)).toBe(getSuite(name));
  });

  it('rejects a name that is no suite with SUITE_MISMATCH', async () => {
    await expectCode(loadSuite('p384' as SuiteName), 'SUITE_MISMATCH');
  });

  it('a process running x25519 PSI tasks loads no @noble/curves module; a ristretto255 task then loads it and agrees with getSuite', async () => {
    const log = join(dir, 'loaded.txt');
    writeFileSync(log, '');
    // A resolve hook that writes down every module URL the process loads.
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }`,
    );
    const dist = (p: string) => pathToFileURL(join(process.cwd(), 'dist', p)).href;
    const script = `
import { register } from 'node:module';
import { readFileSync } from 'node:fs';
register(${JSON.stringify(pathToFileURL(hooks).href)});
const { psiOps } = await import(${JSON.stringify(dist('psi/ops.js'))});
const scalar = new Uint8Array(32).fill(7); scalar[0] &= 248; scalar[31] = (scalar[31] & 127) | 64;
const x = await psiOps.hashMultiply({ suite: 'x25519', items: ['a', 'b'], scalar });
const before = readFileSync(${JSON.stringify(log)}, 'utf8').split('\\n').filter((u) => u.includes('@noble/curves')).length;
const { getSuite } = await import(${JSON.stringify(dist('group/suite.js'))});
const r = getSuite('ristretto255');
const k = r.randomScalar().scalar;
const viaTask = await psiOps.hashMultiply({ suite: 'ristretto255', items: ['a', 'b'], scalar: k });
const direct = r.multiply(k, r.hashToGroup(['a', 'b'], new TextEncoder().encode('koppel-psi-v1-ristretto255_XMD:SHA-512_R255MAP_RO_')));
console.log(JSON.stringify({ x25519Bytes: x.length, before, agree: Buffer.from(viaTask).equals(Buffer.from(direct)) }));
`;
    const res = await runNode(['--input-type=module', '-e', script]);
    expect(res.stderr).toBe('');
    const out = JSON.parse(res.stdout) as { x25519Bytes: number; before: number; agree: boolean };
    expect(out.x25519Bytes).toBe(64);
    expect(out.before).toBe(0);
    expect(out.agree).toBe(true);
    expect(readFileSync(log, 'utf8')).toContain('@noble/curves');
  });
});
