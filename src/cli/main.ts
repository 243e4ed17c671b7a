/**
 * The `koppel` command line. Every command has `--help`; errors go to stderr as
 * `koppel: <CODE>: <message>` and the exit status is non-zero (2 for usage errors,
 * 1 for everything else).
 *
 * @packageDocumentation
 */
import { Command, CommanderError } from 'commander';
import { KoppelError } from '../errors/index.js';
import { demoCommand } from './demo.js';
import { keygenCommand, pseudonymiseCommand } from './pseudonymise.js';
import { psiCommand } from './psi.js';
import { aggregateCommand } from './aggregate.js';
import { processConsole, type Console } from './shared.js';
import { VERSION } from '../version.js';

/** Builds the program; exported for tests that drive it in-process. */
export function buildProgram(io: Console = processConsole): Command {
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
  keygenCommand(program, io);
  pseudonymiseCommand(program, io);
  psiCommand(program, io);
  aggregateCommand(program, io);
  demoCommand(program, io);
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
    await buildProgram(io).parseAsync(argv, { from: 'user' });
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
