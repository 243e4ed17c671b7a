/**
 * The `koppel` command line with every command, each loaded when named (see
 * `program.ts` for the conventions every command follows).
 *
 * @packageDocumentation
 */
import type { Command } from './commander.js';
import { processConsole, programWith, runProgram, type Console, type Register } from './program.js';

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
};
COMMANDS['pseudonymize'] = COMMANDS['pseudonymise'] as () => Promise<Register[]>;

/** Builds the program with the command named by `argv[0]`, or with every command. */
export async function buildProgram(io: Console = processConsole, argv: readonly string[] = []): Promise<Command> {
  const first = argv[0];
  // `--version` alone needs no command; anything else without a known command (help,
  // an unknown command) lists them all.
  const versionOnly = argv.length === 1 && (first === '--version' || first === '-V');
  const loaders = first !== undefined && COMMANDS[first] ? [COMMANDS[first]] : versionOnly ? [] : [...new Set(Object.values(COMMANDS))];
  const registers = (await Promise.all(loaders.map((l) => l()))).flat();
  return programWith(registers, io);
}

/** Runs the CLI with `argv` (without node and script); returns the exit status. */
export function run(argv: string[], io: Console = processConsole): Promise<number> {
  return runProgram(buildProgram(io, argv), argv, io);
}
