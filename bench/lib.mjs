/**
 * Helpers the benchmark scripts share: flags and running the koppel CLI as a process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The compiled CLI. */
export const CLI = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));

/**
 * A random base port for `span` consecutive ports, below Linux's ephemeral range
 * (32768 and up): a listener must not find its port taken by another process's
 * outgoing connection.
 */
export function basePort(span = 10) {
  return 20000 + Math.floor(Math.random() * (12000 - span));
}

/** A numeric flag `--name N` from the command line, or the default. */
export function numberFlag(args, name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

/**
 * Runs `koppel ...cmd`; resolves with its stderr, rejects if it fails. `onStderr`, if
 * given, sees the stderr text so far each time more arrives (to time a progress line);
 * `env` replaces the environment.
 */
export function runCli(cmd, onStderr, env = process.env, nodeArgs = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, CLI, ...cmd], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
      onStderr?.(err);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(err) : reject(new Error(`koppel ${cmd[0]} failed: ${err}`))));
  });
}

/**
 * A process's CPU time, all threads (user + system, from `process.resourceUsage()` at
 * exit, written to a file by a preloaded module): pass `nodeArgs` to the process, then
 * `seconds()` reads it; `remove()` deletes the files.
 */
export function cpuMeter() {
  const dir = mkdtempSync(join(tmpdir(), 'koppel-bench-cpu-'));
  const out = join(dir, 'cpu');
  const preload = join(dir, 'cpu.mjs');
  writeFileSync(
    preload,
    `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => { const r = process.resourceUsage(); writeFileSync(${JSON.stringify(out)}, String((r.userCPUTime + r.systemCPUTime) / 1e6)); });\n`,
  );
  return {
    nodeArgs: ['--import', pathToFileURL(preload).href],
    seconds: () => Number(readFileSync(out, 'utf8')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** {@link runCli} that also measures the process's CPU time ({@link cpuMeter}): resolves with `{ stderr, cpuSeconds }`. */
export async function runCliWithCpu(cmd, onStderr, env = process.env) {
  const meter = cpuMeter();
  try {
    const stderr = await runCli(cmd, onStderr, env, meter.nodeArgs);
    return { stderr, cpuSeconds: meter.seconds() };
  } finally {
    meter.remove();
  }
}
