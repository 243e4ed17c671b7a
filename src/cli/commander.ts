/**
 * commander, loaded with `require` (a CommonJS package; see src/util/cjs.ts for why
 * that halves its load time).
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import type * as Commander from 'commander';

const commander = createRequire(import.meta.url)('commander') as typeof Commander;

/** commander's `Command`. */
export const Command = commander.Command;
/** commander's `Command`. */
export type Command = Commander.Command;
/** commander's `Option`. */
export const Option = commander.Option;
/** commander's `Option`. */
export type Option = Commander.Option;
/** commander's `CommanderError`. */
export const CommanderError = commander.CommanderError;
/** commander's `InvalidArgumentError`. */
export const InvalidArgumentError = commander.InvalidArgumentError;
