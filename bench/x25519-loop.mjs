#!/usr/bin/env node
/**
 * The PSI floor's bare X25519 operation (JWK import + diffieHellman through node:crypto),
 * shared by bench/psi.mjs's tinybench loop and its child processes.
 *
 * Run as a script, `node bench/x25519-loop.mjs MS` runs the operation on 1,000 random
 * canonical points for MS milliseconds and prints its microseconds per operation.
 */
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

/** PKCS#8 DER prefix of an X25519 private key (RFC 8410). */
const PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The private key object of a 32-byte X25519 scalar. */
export const x25519PrivateKey = (scalar) => createPrivateKey({ key: Buffer.concat([PKCS8, scalar]), format: 'der', type: 'pkcs8' });

/** One bare X25519 operation per base64url u-coordinate of `points`. */
export function bareX25519(priv, points) {
  for (const u of points) diffieHellman({ privateKey: priv, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: u }, format: 'jwk' }) });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const ms = Number(process.argv[2]);
  const priv = x25519PrivateKey(randomBytes(32));
  const points = Array.from({ length: 1000 }, () => {
    const b = randomBytes(32);
    b[31] &= 127; // below 2^255; at or above p with probability 19 / 2^255
    return b.toString('base64url');
  });
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms) {
    bareX25519(priv, points);
    n += points.length;
  }
  process.stdout.write(String(((performance.now() - t0) * 1000) / n));
}
