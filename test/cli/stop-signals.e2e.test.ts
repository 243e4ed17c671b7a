/**
 * A stop signal tells the peer (issue 16): SIGINT or SIGTERM to one side of a running
 * `join` or `psi` makes that side send ABORT (`ABORTED`) before it exits with 130 or 143,
 * so the other side ends within seconds with `ABORTED`, not a timeout or a closed
 * connection; the stopped side leaves no output, partial or whole.
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ABORT } from '../../src/session/link.js';
import { listen, type Listener } from '../../src/transport/net.js';
import { decodeFrame, jsonBody } from '../../src/wire/frame.js';
import { startKoppel, type RunningKoppel } from '../helpers.js';

let dir: string;
const f = (n: string) => join(dir, n);
const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;
// Long idle timeouts: a peer that ended by timing out would take a minute, not seconds.
const slow = ['--timeout', '60', '--idle-timeout', '60', '--insecure', '--progress', '--threads', '1'];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-signals-'));
  const n = 40_000;
  const rows = (fn: (i: number) => string) => Array.from({ length: n }, (_, i) => fn(i)).join('\n') + '\n';
  writeFileSync(f('groups.csv'), 'id,g\n' + rows((i) => `id-${i},g${i % 4}`));
  writeFileSync(f('values.csv'), 'id,v\n' + rows((i) => `id-${i * 2},${i % 10}`));
  writeFileSync(f('server.csv'), 'id\n' + rows((i) => `id-${i}`).repeat(1));
  writeFileSync(f('client.csv'), 'id\n' + rows((i) => `id-${i * 3}`));
});

/** Waits for the side's progress to name a phase past reading its input (the protocol is running). */
async function running(p: RunningKoppel, role: string): Promise<void> {
  await p.waitFor(new RegExp(`${role}: (lists|evaluate|own-records|records|match|blind|unblind|own-set|tags) `), 60_000);
}

/** Stops `victim` with `signal` and checks both ends: the victim's status and files, the peer's ABORTED within seconds. */
async function stopAndCheck(victim: RunningKoppel, peer: RunningKoppel, signal: 'SIGINT' | 'SIGTERM', out: string | undefined): Promise<void> {
  const stoppedAt = performance.now();
  victim.child.kill(signal);
  const [v, p] = await Promise.all([victim.done, peer.done]);
  const peerSeconds = (performance.now() - stoppedAt) / 1000;
  expect(v.code, v.stderr).toBe(signal === 'SIGINT' ? 130 : 143);
  expect(v.stderr).toContain(`koppel: ABORTED: Stopped by ${signal}`);
  expect(p.code, p.stderr).toBe(1);
  // The peer was told: ABORTED from the peer, not CONNECTION_CLOSED or TIMEOUT.
  expect(p.stderr).toMatch(/koppel: ABORTED: The peer stopped the protocol/);
  expect(p.stderr).not.toMatch(/TIMEOUT|CONNECTION_CLOSED/);
  expect(peerSeconds).toBeLessThan(10);
  if (out !== undefined) {
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('partial'))).toEqual([]);
  }
}

/** Starts a join (the group holder listening, the value holder connecting), the table written to `out`. */
async function startJoin(out: string) {
  const groups = startKoppel([
    'join',
    'groups',
    '--listen',
    '127.0.0.1:0',
    '--in',
    f('groups.csv'),
    '--id-column',
    'id',
    '--group-columns',
    'g',
    '--out',
    out,
    ...slow,
  ]);
  const port = (await groups.waitFor(LISTENING))[1] as string;
  const values = startKoppel([
    'join',
    'values',
    '--connect',
    `127.0.0.1:${port}`,
    '--in',
    f('values.csv'),
    '--id-column',
    'id',
    '--value-columns',
    'v',
    ...slow,
  ]);
  return { groups, values };
}

describe('a stop signal tells the peer ABORTED', () => {
  it('SIGINT to join groups mid-run: the value holder ends with ABORTED within seconds; no table is left', async () => {
    const out = f('table-int.csv');
    const { groups, values } = await startJoin(out);
    await running(groups, 'join groups');
    await stopAndCheck(groups, values, 'SIGINT', out);
  }, 120_000);

  it('SIGTERM to join values mid-run: the group holder ends with ABORTED within seconds and writes no table', async () => {
    const out = f('table-term.csv');
    const { groups, values } = await startJoin(out);
    await running(values, 'join values');
    await stopAndCheck(values, groups, 'SIGTERM', undefined);
    expect(existsSync(out)).toBe(false);
  }, 120_000);

  it('SIGINT to psi connect mid-run: the server ends with ABORTED within seconds; the client leaves no output', async () => {
    const out = f('matches.csv');
    const server = startKoppel(['psi', 'serve', '--listen', '127.0.0.1:0', '--in', f('server.csv'), '--column', 'id', ...slow]);
    const port = (await server.waitFor(LISTENING))[1] as string;
    const client = startKoppel(['psi', 'connect', '--connect', `127.0.0.1:${port}`, '--in', f('client.csv'), '--column', 'id', '--out', out, ...slow]);
    await running(client, 'psi connect');
    await stopAndCheck(client, server, 'SIGINT', out);
  }, 120_000);

  it('SIGINT to aggregate input while its aggregators have not answered: each aggregator gets ABORT (ABORTED) at once; exit 130', async () => {
    const round = {
      round: 'signals-1',
      codebook: { id: 'c', dimensions: [{ name: 'g', labels: ['a', 'b'] }], values: [], maxInputs: 4, maxRecordsPerInput: 100 },
      aggregators: 2,
      minInputs: 1,
      deadline: new Date(Date.now() + 60_000).toISOString(),
    };
    writeFileSync(f('round.json'), JSON.stringify(round));
    writeFileSync(f('input.csv'), 'g\na\nb\na\n');
    // Two aggregators that take the input's HELLO and never answer.
    const listeners: Listener[] = await Promise.all([0, 1].map(() => listen({ host: '127.0.0.1', port: 0, security: { insecure: true } })));
    try {
      const input = startKoppel([
        'aggregate',
        'input',
        '--round',
        f('round.json'),
        '--party',
        'p0',
        '--in',
        f('input.csv'),
        '--aggregators',
        listeners.map((l) => `127.0.0.1:${l.port}`).join(','),
        '--timeout',
        '60',
        '--idle-timeout',
        '60',
        '--insecure',
      ]);
      const channels = await Promise.all(listeners.map((l) => l.acceptReady(20_000)));
      const hellos = await Promise.all(channels.map((c) => c.receive()));
      for (const h of hellos) expect(decodeFrame(h).step).toBe(1);
      const stoppedAt = performance.now();
      input.child.kill('SIGINT');
      // Each aggregator reads the rest of the submission, then the ABORT.
      const untilAbort = async (c: (typeof channels)[number]) => {
        for (;;) {
          const frame = decodeFrame(await c.receive());
          if (frame.step === ABORT) return frame;
        }
      };
      const aborts = await Promise.all(channels.map(untilAbort));
      expect(performance.now() - stoppedAt).toBeLessThan(5000);
      for (const a of aborts) expect(jsonBody(a, 'ABORT')).toMatchObject({ code: 'ABORTED' });
      const r = await input.done;
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toContain('koppel: ABORTED: Stopped by SIGINT');
    } finally {
      for (const l of listeners) await l.close();
    }
  });
});
