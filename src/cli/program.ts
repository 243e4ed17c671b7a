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
import { Command, CommanderError, Option } from './commander.js';
import { jsonLogLine, type LogFormat } from './log.js';
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

/** How stderr is written: `text` lines for people, or `json` (one JSON object per line) for log collectors. */
export type OutputFormat = { readonly log: LogFormat; readonly errorsAsJson: boolean };

/**
 * The stderr format asked for on the command line, read before parsing (a usage error
 * must be printed in it too): `--log json` makes every line JSON; `--summary json`
 * makes the error JSON as well as the summary.
 */
export function outputFormatOf(argv: readonly string[]): OutputFormat {
  const value = (flag: string): string | undefined => {
    let found: string | undefined;
    argv.forEach((a, i) => {
      if (a === flag) found = argv[i + 1];
      else if (a.startsWith(flag + '=')) found = a.slice(flag.length + 1);
    });
    return found;
  };
  const log: LogFormat = value('--log') === 'json' ? 'json' : 'text';
  return { log, errorsAsJson: log === 'json' || value('--summary') === 'json' };
}

/**
 * A console whose stderr lines are JSON log records (`--log json`): a line that is a
 * JSON object already (a summary) becomes `{"time", "level": "info", "event": "summary",
 * ...}`, a record with a `level` (an error) passes as it is, any other line becomes
 * `{"time", "level", "message"}` (`warn` for warnings). Stdout is unchanged.
 */
export function jsonConsole(io: Console): Console {
  return {
    out: io.out,
    err: (line) => {
      for (const one of line.split('\n')) {
        if (one.trim() === '') continue;
        if (one.startsWith('{')) {
          try {
            const obj = JSON.parse(one) as Record<string, unknown>;
            io.err('level' in obj ? one : jsonLogLine('info', { event: 'summary', ...obj }));
            continue;
          } catch {
            // not JSON after all: a message
          }
        }
        const message = one.replace(/^koppel: /, '');
        io.err(jsonLogLine(/(^|: )(warning|WARNING)\b/.test(message) ? 'warn' : 'info', { message }));
      }
    },
  };
}

/** An error as a JSON log record: code, message, details and the exit status it gives. */
export function errorJson(code: string, message: string, details: Record<string, unknown>, exitStatus: number): string {
  return jsonLogLine('error', { event: 'error', code, message, details, exitStatus });
}

/** The exit status of a usage error (unknown flag, bad value, a missing or malformed round file). */
export const EXIT_USAGE = 2;
/** The exit status of every other failure: data, network, peer, disclosure. */
export const EXIT_FAILURE = 1;

/** Adds one command (with its subcommands) to the program. */
export type Register = (program: Command, io: Console) => void;

/** Builds the program with the given commands (usage errors printed as `format` says). */
export function programWith(
  registers: readonly Register[],
  io: Console = processConsole,
  format: OutputFormat = { log: 'text', errorsAsJson: false },
): Command {
  const program = new Command('koppel')
    .description('Privacy-preserving data linking: keyed pseudonymisation, private set intersection and private aggregation.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => {
        const message = s.replace(/^error: /, '').trim();
        write(format.errorsAsJson ? errorJson('INVALID_ARGUMENT', message, {}, EXIT_USAGE) : `koppel: INVALID_ARGUMENT: ${message}`);
      },
    });
  for (const register of registers) register(program, io);
  const configure = (c: Command): void => {
    for (const sub of c.commands) {
      sub.exitOverride().configureOutput(program.configureOutput());
      // Every command that runs takes --log (read before parsing by outputFormatOf).
      if (sub.commands.length === 0) {
        sub.addOption(
          new Option('--log <format>', 'stderr: text lines, or json (one JSON object per line: messages, progress, summary, errors)')
            .choices(['text', 'json'])
            .default('text'),
        );
      }
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
export async function runProgram(
  program: Command | Promise<Command>,
  argv: readonly string[],
  io: Console = processConsole,
  format: OutputFormat = outputFormatOf(argv),
): Promise<number> {
  try {
    await (await program).parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return EXIT_USAGE; // commander has already printed the message
    }
    if (e instanceof KoppelError) {
      const status = e.code === 'INVALID_ARGUMENT' ? EXIT_USAGE : EXIT_FAILURE;
      io.err(format.errorsAsJson ? errorJson(e.code, e.message, e.details, status) : formatError(e));
      return status;
    }
    // Never print an unknown error's message: it could contain data. Its type only.
    const message = `unexpected ${e instanceof Error ? e.name : typeof e}; please report this with the command you ran.`;
    io.err(format.errorsAsJson ? errorJson('INTERNAL', message, {}, EXIT_FAILURE) : `koppel: INTERNAL: ${message}`);
    if (process.env['KOPPEL_DEBUG'] === '1' && e instanceof Error) io.err(e.stack ?? '');
    return EXIT_FAILURE;
  }
}
