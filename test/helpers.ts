/** Shared helpers for koppel's tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Reads a JSON file from test/vectors/. */
export function vectors<T>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`./vectors/${name}`, import.meta.url)), 'utf8')) as T;
}

/** One RFC 4231 HMAC-SHA256 test case (test/vectors/rfc4231.json), hex strings. */
export interface HmacVector {
  name: string;
  key: string;
  data: string;
  mac: string;
  /** Compare only this many leading bytes (test case 5). */
  truncate?: number;
}

/** The RFC 4231 HMAC-SHA256 test cases. */
export function rfc4231Vectors(): HmacVector[] {
  return vectors<{ vectors: HmacVector[] }>('rfc4231.json').vectors;
}

/** One RFC 9497 test vector (appendix A), hex strings; batched vectors list several items. */
export interface Rfc9497Vector {
  input: string[];
  blind: string[];
  blindedElement: string[];
  evaluationElement: string[];
  output: string[];
  proof?: string;
  proofRandomScalar?: string;
}

/** The RFC 9497 OPRF(ristretto255, SHA-512) vectors of test/vectors/, both modes. */
export function rfc9497Vectors(): {
  seed: string;
  keyInfo: string;
  oprf: { skSm: string; vectors: Rfc9497Vector[] };
  voprf: { skSm: string; pkSm: string; vectors: Rfc9497Vector[] };
} {
  return vectors('rfc9497-ristretto255-sha512.json');
}

/** Hex to bytes. */
export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export { expectCode, expectCodeSync } from './helpers/expect-code.js';

/** Path of the compiled CLI (npm test builds before running vitest). */
export const CLI = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));

/** What a CLI process did. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node ...args` as its own process, with `stdin` as its input (default: empty). */
export function runNode(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

/** Runs the compiled CLI as its own process, with `stdin` as its input (default: empty). */
export function runKoppel(args: string[], stdin?: string): Promise<CliResult> {
  return runNode([CLI, ...args], stdin === undefined ? {} : { stdin });
}

/** A CLI process left running: its stderr so far, a wait for a stderr line, and its end. */
export interface RunningKoppel {
  readonly child: ChildProcess;
  /** Stderr so far. */
  stderr(): string;
  /** Resolves with the first match of `re` on stderr (rejects if the process ends first, or after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Resolves when the process has ended. */
  readonly done: Promise<CliResult>;
}

/** The line every listening command prints on stderr, with the port it listens on. */
export const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;

/** Waits for a listener's `listening on` line (see {@link LISTENING}) and returns the port it names. */
export async function listeningPort(p: RunningKoppel): Promise<number> {
  const port = Number((await p.waitFor(LISTENING))[1]);
  if (!(port > 0)) throw new Error(`no port in the listening line: ${p.stderr()}`);
  return port;
}

/** Starts the compiled CLI as its own process and returns at once (stdin closed). */
export function startKoppel(args: string[]): RunningKoppel {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const w of [...waiters]) w();
  });
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return {
    child,
    stderr: () => stderr,
    done,
    waitFor: (re, ms = 20_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(stderr);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${String(re)} on stderr within ${ms} ms: ${stderr}`));
        }, ms);
        waiters.add(check);
        void done.then(() => {
          check();
          if (waiters.has(check)) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`the process ended without ${String(re)} on stderr: ${stderr}`));
          }
        });
        check();
      }),
  };
}
