/**
 * The README's command-line quick starts run as written (issue 19): every ```sh block
 * but the npm ones is turned into a bash script with the substitutions a reader makes
 * on one machine (the local koppel for `npx koppel`, loopback for the hosts, a test CA
 * from examples/make-test-pki.sh for the certificates, each command's `[tls flags]`),
 * servers in the background, and run on realistic files with some invalid BSNs.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(root, 'dist/cli/bin.js');
const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```sh\n([\s\S]*?)```/g)]
  .map((m) => m[1] as string)
  .filter((b) => b.includes('npx koppel'));
let dir: string;
let port = 31000 + Math.floor(Math.random() * 2000);

/** What `[tls flags]` stands for, per command: this party's certificate, the CA, the peers of its role. */
function tlsFlags(line: string): string {
  const as = (name: string, peers: string) => `--tls-cert ${name}.crt --tls-key ${name}.key --tls-ca ca.crt --peer ${peers}`;
  if (line.includes('join groups')) return as('cbs', 'logius.example');
  if (line.includes('join values')) return as('logius', 'cbs.example');
  if (line.includes('aggregate collect')) return as('cbs', 'agg0.example,agg1.example');
  if (line.includes('aggregate aggregator') && line.includes('--index 0')) return as('agg0', 'gemeente.example');
  if (line.includes('aggregate aggregator')) return as('agg1', 'gemeente.example');
  if (line.includes('aggregate input')) return as('gemeente', 'agg0.example,agg1.example');
  throw new Error(`no [tls flags] for: ${line}`);
}

const SERVERS = ['psi serve', 'oprf serve', 'join groups', 'aggregate collect', 'aggregate aggregator'];

/** A README block as a bash script a reader would run on one machine. */
function script(block: string): string {
  const ports = new Map<string, number>();
  const portFor = (p: string) => ports.get(p) ?? (ports.set(p, port++), ports.get(p));
  const lines = block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const out = ['set -euo pipefail', 'pids=()'];
  for (let l of lines) {
    l = l.replace(/(0\.0\.0\.0|[a-z0-9]+\.example):(\d+)/g, (_m, _h, p: string) => `127.0.0.1:${portFor(p)}`);
    if (l.includes('[tls flags]')) l = l.replace('[tls flags]', tlsFlags(l));
    l = l.replace(/^npx koppel /, `node ${BIN} `);
    if (l.includes('oprf keygen')) {
      out.push(`KID=$(${l} 2>&1 | sed -n 's/.*key id \\([0-9a-f]*\\) (voprf).*/\\1/p')`);
      continue;
    }
    l = l.replace('<key id>', '$KID');
    if (SERVERS.some((s) => l.includes(s))) {
      out.push(`${l} & pids+=($!)`, 'sleep 0.7');
    } else out.push(l);
  }
  // Every server has ended successfully (servers of one peer end when it is served; the OPRF service is stopped).
  out.push('for p in "${pids[@]}"; do if ps -o args= -p "$p" | grep -q "oprf serve"; then kill -INT "$p"; fi; wait "$p"; done');
  return out.join('\n') + '\n';
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-readme-sh-'));
  const names = ['cbs', 'logius', 'svc', 'agg0', 'agg1', 'gemeente'];
  const r = spawnSync('bash', [join(root, 'examples/make-test-pki.sh'), dir, ...names.map((n) => `${n}.example`)], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  for (const n of names) for (const ext of ['crt', 'key']) copyFileSync(join(dir, `${n}.example.${ext}`), join(dir, `${n}.${ext}`));
  copyFileSync(join(dir, 'ca.crt'), join(dir, 'clients-ca.crt'));
  const rng = new SyntheticRandom('readme-shell');
  const people = Array.from({ length: 3000 }, () => syntheticBsn(rng));
  const bad = (i: number) => i % 211 === 7;
  const provinces = ['Utrecht', 'Zeeland', 'Drenthe'];
  const households = ['eenpersoonshuishouden', 'paar met kinderen'];
  writeFileSync(
    join(dir, 'persons.csv'),
    'bsn,province,household_type\n' +
      people.map((b, i) => `${bad(i) ? '123456789' : b},${provinces[i % 3] as string},${households[i % 2] as string}`).join('\n') +
      '\n',
  );
  writeFileSync(
    join(dir, 'users.csv'),
    'bsn,logins,messages_read\n' +
      people
        .slice(1000)
        .map((b, i) => `${bad(i + 5) ? '12345' : b},${i % 40},${i % 9}`)
        .join('\n') +
      '\n',
  );
  writeFileSync(
    join(dir, 'records.csv'),
    'bsn,region,household,logins\n' +
      people
        .slice(0, 400)
        .map((b, i) => `${b},${i % 2 ? 'Utrecht' : 'Groningen'},${i % 3 ? 'single' : 'family'},${i % 50}`)
        .join('\n') +
      '\n',
  );
  writeFileSync(join(dir, 'cellkey.hex'), 'ab'.repeat(32) + '\n');
});

describe('README command-line quick starts', () => {
  it('there are blocks to run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
  });

  it.each(blocks.map((b, i) => [i + 1, b] as const))(
    'block %i runs as written (on one machine, loopback, a test CA)',
    (_i, block) => {
      const text = script(block);
      writeFileSync(join(dir, 'run.sh'), text);
      // The aggregation round's deadline runs from this block's start, however long the blocks before it took.
      const round = JSON.parse(readFileSync(join(root, 'examples/round.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(dir, 'round.json'), JSON.stringify({ ...round, minInputs: 1, deadline: new Date(Date.now() + 20_000).toISOString() }));
      const r = spawnSync('bash', [join(dir, 'run.sh')], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      expect(r.status, `${text}\n--- stderr:\n${r.stderr.slice(-3000)}`).toBe(0);
    },
    150_000,
  );
});
