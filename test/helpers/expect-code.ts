/**
 * `expectCode`: the one assertion that something fails with a given `KoppelError` code
 * (and `expectCodeSync`, the same check for code that must throw synchronously).
 *
 * @packageDocumentation
 */
import { expect } from 'vitest';
import { KoppelError, type KoppelErrorCode } from '../../src/errors/index.js';

/**
 * Asserts that `subject` fails with a `KoppelError` whose `code` is `code`, and returns
 * that error for further assertions (details, cause). `subject` is a promise (it must
 * reject) or a function (it must throw, or return a promise that rejects). The
 * assertion fails when nothing fails, when something other than a `KoppelError` is
 * thrown, and when the code differs. Always `await` it: the check of a function that
 * throws at once happens at once, but the returned promise is how a failure reaches the
 * test.
 *
 * @example
 * await expectCode(() => importKey('{}'), 'INVALID_KEY');
 * await expectCode(client.pseudonymiseMany(ids), 'BUDGET_EXHAUSTED');
 */
export async function expectCode(subject: Promise<unknown> | (() => unknown), code: KoppelErrorCode): Promise<KoppelError> {
  let outcome: { failed: false } | { failed: true; error: unknown };
  try {
    await (typeof subject === 'function' ? subject() : subject);
    outcome = { failed: false };
  } catch (error) {
    outcome = { failed: true, error };
  }
  if (!outcome.failed) {
    expect.fail(`expected a KoppelError ${code}, but ${typeof subject === 'function' ? 'the function returned' : 'the promise resolved'}`);
  }
  return checked(outcome.error, code);
}

/**
 * Asserts that calling `f` throws (synchronously) a `KoppelError` with `code`, and
 * returns it. For code that must fail before it returns: a function that returns a
 * promise instead fails this assertion.
 */
export function expectCodeSync(f: () => unknown, code: KoppelErrorCode): KoppelError {
  let result: unknown;
  try {
    result = f();
  } catch (error) {
    return checked(error, code);
  }
  expect.fail(`expected a KoppelError ${code} to be thrown, but the function ${result instanceof Promise ? 'returned a promise' : 'returned'}`);
}

function checked(error: unknown, code: KoppelErrorCode): KoppelError {
  expect(error, `expected a KoppelError ${code}`).toBeInstanceOf(KoppelError);
  expect((error as KoppelError).code, `expected a KoppelError ${code}`).toBe(code);
  return error as KoppelError;
}
