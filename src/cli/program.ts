/**
 * The `koppel` program around a set of commands: its options, its output conventions and
 * how errors become exit statuses. Every command has `--help`; errors go to stderr as
 * `koppel: <CODE>: <message>` and the exit status is non-zero (2 for usage errors, 1 for
 * everything else).
 *
 * `main.ts` builds it with the command named (each command loaded on demand).
 *
 * @packageDocumentation
 */
import { Command, CommanderError } from './commander.js';
import { KoppelError } from '../errors/index.js';
import { VERSION } from '../version.js';

/** Where a command prints: data to `out` (stdout), messages to `err` (stderr). */
export interface Console {
  /** Writes data to stdout as is. */
  out: (text: string) => void;
  /** Writes one message line to stderr. */
  err: (line: string) => void;
}

/** The process's own stdout and stderr. */
export const processConsole: Console = {
  out: (text) => void process.stdout.write(text),
  err: (line) => void process.stderr.write(line + '\n'),
};

/** Adds one command (with its subcommands) to the program. */
export type Register = (program: Command, io: Console) => void;

/** Builds the program with the given commands. */
export function programWith(registers: readonly Register[], io: Console = processConsole): Command {
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

/**
 * Parses `argv` (without node and script) with `program` and runs the command; returns
 * the exit status. Errors are printed, never thrown.
 */
export async function runProgram(program: Command | Promise<Command>, argv: readonly string[], io: Console = processConsole): Promise<number> {
  try {
    await (await program).parseAsync([...argv], { from: 'user' });
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
