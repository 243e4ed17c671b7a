/**
 * io-ts and fp-ts, CommonJS packages, loaded with `require` rather than `import`
 * (src/cli/commander.ts and src/csv/records.ts do the same for commander and
 * papaparse).
 *
 * When an ES module imports a CommonJS module, Node first runs a lexer over the
 * module's source (and over every module it re-exports) to find its named exports.
 * For these packages that roughly triples their load time; measured on this project's
 * 2-core machine, Node 20: io-ts 19 -> 7 ms, commander 14 -> 8 ms, papaparse 11 -> 2.5
 * ms. A party that runs as a short process (an aggregation input, a CLI call in a
 * script) pays that on every start, so the library loads them here, once, with
 * `require`, and the rest of the code imports them from this module. Types are the
 * packages' own.
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import type * as IoTs from 'io-ts';
import type * as FpEither from 'fp-ts/lib/Either.js';

// Each load is written `createRequire(import.meta.url)(name)`: the form the CLI bundle's
// build (scripts/bundle-cli.mjs) finds and bundles.
/** io-ts, as `import * as t from 'io-ts'` would give it. */
export const t = createRequire(import.meta.url)('io-ts') as typeof IoTs;
// A types-only namespace merged with the value, so `t.TypeOf<...>` etc. still work.
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace t {
  /** See io-ts. */
  type TypeOf<C extends IoTs.Any> = IoTs.TypeOf<C>;
  /** See io-ts. */
  type Type<A, O = A, I = unknown> = IoTs.Type<A, O, I>;
  /** See io-ts. */
  type Decoder<I, A> = IoTs.Decoder<I, A>;
  /** See io-ts. */
  type Errors = IoTs.Errors;
}

const either = createRequire(import.meta.url)('fp-ts/lib/Either.js') as typeof FpEither;
/** fp-ts `Either`. */
export type Either<E, A> = FpEither.Either<E, A>;
/** fp-ts `isLeft`. */
export const isLeft = either.isLeft;
/** fp-ts `left`. */
export const left = either.left;
/** fp-ts `right`. */
export const right = either.right;
