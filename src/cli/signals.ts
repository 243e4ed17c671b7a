/**
 * What a `koppel` process does on SIGINT and SIGTERM: remove every output still being
 * written (so no half-written file is left that looks complete), say so on stderr, and
 * exit with 128 + the signal number (130, 143), as shells do. A command that stops
 * gracefully instead (`oprf serve`) takes the signal over with {@link onStopSignal}.
 *
 * @packageDocumentation
 */
import { rmSync } from 'node:fs';

/** The signals that stop a run. */
export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The exit status after each stop signal (128 + its number). */
export const SIGNAL_EXIT: Readonly<Record<StopSignal, number>> = Object.freeze({ SIGINT: 130, SIGTERM: 143 });

const partials = new Set<string>();
const takers = new Set<(signal: StopSignal) => void>();

/** Registers the temporary file of an output being written (removed if a signal stops the process). */
export function trackPartial(path: string): void {
  partials.add(path);
}

/** Forgets a temporary file (committed or removed). */
export function untrackPartial(path: string): void {
  partials.delete(path);
}

/** Removes every output still being written, synchronously. */
export function removePartialOutputs(): void {
  for (const p of partials) rmSync(p, { force: true });
  partials.clear();
}

/**
 * Takes the stop signals over for a command that stops gracefully (finishes what is in
 * flight, then returns). The first signal goes to `stop`; the taker is then released, so
 * a second signal stops the process at once. Returns a function that releases it.
 */
export function onStopSignal(stop: (signal: StopSignal) => void): () => void {
  const once = (signal: StopSignal): void => {
    takers.delete(once);
    stop(signal);
  };
  takers.add(once);
  return () => takers.delete(once);
}

/**
 * Installs the process's handlers (the `koppel` executable does, once): on a stop
 * signal, a command that took it over is told; otherwise partial outputs are removed,
 * `report` prints the line, and the process exits with {@link SIGNAL_EXIT}.
 */
export function installStopSignals(report: (signal: StopSignal, status: number) => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (takers.size > 0) {
        for (const t of [...takers]) t(signal);
        return;
      }
      removePartialOutputs();
      report(signal, SIGNAL_EXIT[signal]);
      process.exit(SIGNAL_EXIT[signal]);
    });
  }
}
