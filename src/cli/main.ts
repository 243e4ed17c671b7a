/**
 * The `koppel` command line. Every command has `--help`; errors go to stderr as
 * `koppel: <CODE>: <message>` and the exit status is non-zero (2 for usage errors,
 * 1 for everything else).
 *
 * @packageDocumentation
 */
import { Command, CommanderError } from './commander.js';
import { KoppelError } from '../errors/index.js';
import { processConsole, type Console } from './shared.js';
import { VERSION } from '../version.js';

type Register = (program: Command, io: Console) => void;

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
  const program = new Command('koppel')
    .description('Privacy-preserving data linking: keyed pseudonymisation, private set intersection and private aggregation.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(`koppel: INVALID_ARGUMENT: ${s.replace(/^error: /, '').trim()}`),
    });
  for (const register of registers) register(program, io);
  const configure = (c: Command): void => {
    for (const sub of c.commands) {
      sub.exitOverride().configureOutput(program.configureOutput());
      configure(sub);
    }
  };
  configure(program);
  return program;
}

/** Formats a typed error for stderr: code, message, then non-sensitive details. */
export function formatError(e: KoppelError): string {
  const details = Object.entries(e.details)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  return `koppel: ${e.code}: ${e.message}${details ? ` [${details}]` : ''}`;
}

/** Runs the CLI with `argv` (without node and script); returns the exit status. */
export async function run(argv: string[], io: Console = processConsole): Promise<number> {
  try {
    await (await buildProgram(io, argv)).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2; // commander has already printed the message
    }
    if (e instanceof KoppelError) {
      io.err(formatError(e));
      return e.code === 'INVALID_ARGUMENT' ? 2 : 1;
    }
    // Never print an unknown error's message: it could contain data. Its type only.
    io.err(`koppel: INTERNAL: unexpected ${e instanceof Error ? e.name : typeof e}; please report this with the command you ran.`);
    if (process.env['KOPPEL_DEBUG'] === '1' && e instanceof Error) io.err(e.stack ?? '');
    return 1;
  }
}
