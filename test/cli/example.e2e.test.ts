/**
 * The researcher's example runs as written (issues 17, 19): examples/cbs-logius/run.sh
 * runs the demo, then the by-hand join under a signed agreement over mutual TLS, and both
 * receipts verify.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('examples/cbs-logius/run.sh', () => {
  it('runs the demo and the by-hand join under a signed agreement, and both receipts verify', async () => {
    const out = mkdtempSync(join(tmpdir(), 'koppel-example-'));
    const r = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const child = spawn('bash', [join(root, 'examples/cbs-logius/run.sh'), '2000'], { env: { ...process.env, OUT: out }, cwd: root });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.on('close', (code) => resolve({ code, text }));
    });
    expect(r.code, r.text.slice(-3000)).toBe(0);
    expect(r.text).toContain('AGREE');
    expect(r.text).toMatch(/agreement cbs-logius-example version 1: valid/);
    expect(r.text).toMatch(/receipt of join groups \(groups\), session [0-9a-f]+: valid/);
    expect(r.text).toMatch(/receipt of join values \(values\), session [0-9a-f]+: valid/);
  }, 240_000);
});
