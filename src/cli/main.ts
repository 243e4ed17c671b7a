/**
 * The `koppel` command line with every command, each loaded when named (see
 * `program.ts` for the conventions every command follows).
 *
 * @packageDocumentation
 */
import type { Command } from './commander.js';
import { errorJson, jsonConsole, outputFormatOf, processConsole, programWith, runProgram, type Console, type OutputFormat, type Register } from './program.js';
import { setLogFormat } from './log.js';
import { installStopSignals, stoppedBy, trackRun } from './signals.js';

export { formatError } from './program.js';

/**
 * The command modules, loaded on demand: a process running one command loads only that
 * command's code (start-up time matters when many parties run as short processes).
 */
const COMMANDS: Record<string, () => Promise<Register[]>> = {
  keygen: async () => [(await import('./pseudonymise.js')).keygenCommand],
  pseudonymise: async () => [(await import('./pseudonymise.js')).pseudonymiseCommand],
  psi: async () => [(await import('./psi.js')).psiCommand],
  aggregate: async () => [(await import('./aggregate.js')).aggregateCommand],
  join: async () => [(await import('./join.js')).joinCommand],
  oprf: async () => [(await import('./oprf.js')).oprfCommand],
  demo: async () => [(await import('./demo.js')).demoCommand],
  agreement: async () => [(await import('./agreement.js')).agreementCommand],
  receipt: async () => [(await import('./receipt.js')).receiptCommand],
  report: async () => [(await import('./report.js')).reportCommand],
  check: async () => [(await import('./check.js')).checkCommand],
};
COMMANDS['pseudonymize'] = COMMANDS['pseudonymise'] as () => Promise<Register[]>;

/** Builds the program with the command named by `argv[0]`, or with every command. */
export async function buildProgram(io: Console = processConsole, argv: readonly string[] = [], format: OutputFormat = outputFormatOf(argv)): Promise<Command> {
  const first = argv[0];
  // `--version` alone needs no command; anything else without a known command (help,
  // an unknown command) lists them all.
  const versionOnly = argv.length === 1 && (first === '--version' || first === '-V');
  const loaders = first !== undefined && COMMANDS[first] ? [COMMANDS[first]] : versionOnly ? [] : [...new Set(Object.values(COMMANDS))];
  const registers = (await Promise.all(loaders.map((l) => l()))).flat();
  return programWith(registers, io, format);
}

/** The console `argv` asks for: JSON log records on stderr with `--log json`. */
function consoleFor(io: Console, format: OutputFormat): Console {
  return format.log === 'json' ? jsonConsole(io) : io;
}

/**
 * Runs the CLI with `argv` (without node and script); returns the exit status: 0 on
 * success, 1 when the command failed, 2 for a usage error (docs/cli.md lists them).
 */
export function run(argv: string[], io: Console = processConsole): Promise<number> {
  const format = outputFormatOf(argv);
  setLogFormat(format.log);
  const console = consoleFor(io, format);
  return runProgram(buildProgram(console, argv, format), argv, console, format);
}

/**
 * The `koppel` executable's entry: {@link run}, with SIGINT and SIGTERM ending the
 * process with 130 and 143 after removing every output still being written.
 */
export function main(argv: string[]): Promise<number> {
  const format = outputFormatOf(argv);
  const console = consoleFor(processConsole, format);
  installStopSignals((signal, status) => {
    const message = `Stopped by ${signal}; outputs not yet complete were removed.`;
    console.err(format.errorsAsJson ? errorJson('ABORTED', message, { signal }, status) : `koppel: ABORTED: ${message}`);
  });
  // Once a stop signal arrived, the command's own failure (its run aborted) is not printed:
  // the signal's line is the one the user sees, with the signal's exit status.
  const quiet: Console = { out: (t) => processConsole.out(t), err: (l) => (stoppedBy() === undefined ? processConsole.err(l) : undefined) };
  const running = run(argv, quiet);
  trackRun(running);
  return running;
}
