/**
 * io-ts at the boundary: every structured value that comes from another party is
 * decoded through a codec, and failures become {@link KoppelError}s that name the path
 * and the expected type, never the value (io-ts's own reporter prints values, which
 * may be personal data).
 *
 * @packageDocumentation
 */
import { t, isLeft, left, right, type Either } from '../util/cjs.js';
import { KoppelError, type KoppelErrorCode } from '../errors/index.js';

/** Describes validation errors by path and expected type only. */
export function describeErrors(errors: t.Errors): string {
  return errors
    .slice(0, 3)
    .map((e) => {
      const path = e.context
        .map((c) => c.key)
        .filter((k) => k !== '')
        .join('.');
      const expected = e.context[e.context.length - 1]?.type.name ?? 'unknown';
      return `${path || '(root)'}: expected ${expected}`;
    })
    .join('; ');
}

/**
 * Decodes an untrusted value with a codec.
 *
 * @param what - a short name for the message, used in the error
 */
export function decode<A>(codec: t.Decoder<unknown, A>, value: unknown, what: string, code: KoppelErrorCode = 'MESSAGE_MALFORMED'): Either<KoppelError, A> {
  const r = codec.decode(value);
  if (isLeft(r)) {
    return left(
      new KoppelError(code, `The peer's ${what} is malformed (${describeErrors(r.left)}); is it running a compatible koppel version?`, {
        details: { message: what },
      }),
    );
  }
  return right(r.right);
}

/** Decodes or throws the typed error: for code paths that are already async/throwing. */
export function decodeOrThrow<A>(codec: t.Decoder<unknown, A>, value: unknown, what: string, code: KoppelErrorCode = 'MESSAGE_MALFORMED'): A {
  const r = decode(codec, value, what, code);
  if (isLeft(r)) throw r.left;
  return r.right;
}

/** An integer within [min, max] (io-ts refinement with a readable name). */
export function intRange(min: number, max: number): t.Type<number, number, unknown> {
  return t.refinement(t.number, (n) => Number.isInteger(n) && n >= min && n <= max, `integer in [${min}, ${max}]`);
}

/** A string of at most `max` characters matching `re`. */
export function pattern(re: RegExp, name: string, max = 256): t.Type<string, string, unknown> {
  return t.refinement(t.string, (s) => s.length <= max && re.test(s), name);
}
