/** Shared helpers for koppel's tests. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { KoppelError, type KoppelErrorCode } from '../src/errors/index.js';

/** Reads a JSON file from test/vectors/. */
export function vectors<T>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`./vectors/${name}`, import.meta.url)), 'utf8')) as T;
}

/** Hex to bytes. */
export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** Asserts that `f` throws a KoppelError with `code`, and returns it. */
export function expectKoppelError(f: () => unknown, code: KoppelErrorCode): KoppelError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(KoppelError);
    expect((e as KoppelError).code).toBe(code);
    return e as KoppelError;
  }
  throw new Error(`expected a KoppelError ${code}, but nothing was thrown`);
}

/** Asserts that a promise rejects with a KoppelError with `code`, and returns it. */
export async function expectKoppelRejection(p: Promise<unknown>, code: KoppelErrorCode): Promise<KoppelError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KoppelError);
    expect((e as KoppelError).code).toBe(code);
    return e as KoppelError;
  }
  throw new Error(`expected a rejection with KoppelError ${code}, but the promise resolved`);
}

/** Path of the compiled CLI (npm test builds before running vitest). */
export const CLI = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
