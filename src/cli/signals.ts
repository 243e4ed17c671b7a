/**
 * What a `koppel` process does on SIGINT and SIGTERM: tell the peer of a run in
 * progress (the library's protocol functions take {@link stopSignal}, so their session
 * layer sends ABORT with `ABORTED`; at most {@link ABORT_GRACE_MS}), remove every output
 * still being written (so no half-written file is left that looks complete), say so on
 * stderr, and exit with 128 + the signal number (130, 143), as shells do. A command that
 * stops gracefully instead (`oprf serve`) takes the signal over with {@link onStopSignal}.
 *
 * @packageDocumentation
 */
import { rmSync } from 'node:fs';

/** The signals that stop a run. */
export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The exit status after each stop signal (128 + its number). */
export const SIGNAL_EXIT: Readonly<Record<StopSignal, number>> = Object.freeze({ SIGINT: 130, SIGTERM: 143 });

/** How long a stop signal leaves a run in progress to tell its peer before the process exits. */
export const ABORT_GRACE_MS = 1000;

const partials = new Set<string>();
const takers = new Set<(signal: StopSignal) => void>();
const stopController = new AbortController();
/** A command handed {@link stopSignal} to a protocol function: a signal aborts it first. */
let abortable = false;
/** The command's promise (from `main`): settles once the aborted run has told its peer. */
let running: Promise<unknown> | undefined;
let stopping: StopSignal | undefined;

/**
 * The signal a networked command passes to the library's protocol functions
 * (`signal` of psi, join and aggregation): a stop signal aborts it, the run's sessions
 * send their peers ABORT (`ABORTED`), and only then (at most {@link ABORT_GRACE_MS}
 * later) does the process exit.
 */
export function stopSignal(): AbortSignal {
  abortable = true;
  return stopController.signal;
}

/** The stop signal being handled, once one arrived (the command's own error is then not printed). */
export function stoppedBy(): StopSignal | undefined {
  return stopping;
}

/** Registers the running command, so a stop signal exits as soon as its aborted run has settled. */
export function trackRun(run: Promise<unknown>): void {
  running = run;
}

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
  const exit = (signal: StopSignal): void => {
    removePartialOutputs();
    report(signal, SIGNAL_EXIT[signal]);
    process.exit(SIGNAL_EXIT[signal]);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (takers.size > 0) {
        for (const t of [...takers]) t(signal);
        return;
      }
      // A second signal, or nothing to tell a peer: at once.
      if (stopping !== undefined || !abortable) return exit(signal);
      stopping = signal;
      stopController.abort();
      // The run's sessions send ABORT and the run rejects; exit then, or after the grace period.
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, ABORT_GRACE_MS)));
      void Promise.race([running?.then(noop, noop) ?? grace, grace]).then(() => {
        clearTimeout(timer);
        exit(signal);
      });
    });
  }
}

function noop(): void {
  // settled either way
}
