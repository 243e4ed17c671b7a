/**
 * The blind pseudonymisation service and its client: correct pseudonyms in both modes,
 * key pinning and rotation, authentication, rate limits and budgets, malformed and
 * oversized requests, proof failures, logs without elements, graceful shutdown, and a
 * service that restarts while a client is in the middle of a file.
 */
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { OprfPseudonymiser } from '../../src/oprf/client.js';
import { FastOprf } from '../../src/oprf/fast.js';
import { generateOprfKeyFile, importOprfKeyFile, type OprfKey } from '../../src/oprf/key.js';
import { startOprfService, type OprfService, type OprfServiceOptions } from '../../src/oprf/service.js';
import { toBase64Url } from '../../src/util/bytes.js';
import { expectCode } from '../helpers/expect-code.js';
import { testPki } from '../tls.js';
import { readFileSync } from 'node:fs';

const keyA = importOprfKeyFile(generateOprfKeyFile());
const keyB = importOprfKeyFile(generateOprfKeyFile());
const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function service(over: Partial<OprfServiceOptions> = {}, logs: Array<Record<string, unknown>> = []): Promise<OprfService> {
  const s = await startOprfService({ keys: [keyA.voprf, keyA.oprf], host: '127.0.0.1', port: 0, threads: 0, log: (e) => logs.push(e), ...over });
  running.push(s);
  return s;
}

async function client(s: { port: number }, over: Partial<Parameters<typeof OprfPseudonymiser.connect>[0]> = {}): Promise<OprfPseudonymiser> {
  const c = await OprfPseudonymiser.connect({ url: `http://127.0.0.1:${s.port}`, threads: 0, retryForMs: 2000, ...over });
  running.push(c);
  return c;
}

/** What the pseudonym of `id` must be: the key holder's own RFC 9497 Evaluate, truncated and tagged. */
async function expected(key: OprfKey, id: string): Promise<string> {
  const f = await FastOprf.load(key.mode);
  const input = new TextEncoder().encode(id);
  const { blinds, blinded } = f.blind([input]);
  const out = f.finalize([input], blinds, f.evaluate(key.secretKey, blinded))[0] as Uint8Array;
  return `${key.kid}.${toBase64Url(out.subarray(0, 32))}`;
}

async function post(
  port: number,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: { code?: string }; retryAfter: string | null }> {
  const r = await fetch(`http://127.0.0.1:${port}/v1/evaluate`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: r.status, json: (await r.json()) as { code?: string }, retryAfter: r.headers.get('retry-after') };
}

const ids = ['111222333', '123456782', '012345672', '10000008'];

describe('blind pseudonymisation: results', () => {
  it.each(['voprf', 'oprf'] as const)("%s mode gives the key holder's RFC 9497 output, tagged with the key id, for every identifier", async (mode) => {
    const s = await service();
    const c = await client(s, { mode, idType: 'bsn' });
    expect(c.kid).toBe(keyA[mode].kid);
    const got = await c.pseudonymiseMany(ids);
    // '10000008' is normalised to '010000008' before blinding.
    expect(got).toEqual(await Promise.all(['111222333', '123456782', '012345672', '010000008'].map((id) => expected(keyA[mode], id))));
  });

  it('reports invalid identifiers per item and never sends them', async () => {
    const logs: Array<Record<string, unknown>> = [];
    const s = await service({}, logs);
    const c = await client(s, { idType: 'bsn' });
    const r = await c.tryPseudonymiseMany(['111222333', '123456789', 'abc']);
    expect(r.map((x) => x.ok)).toEqual([true, false, false]);
    expect(r[1]).toMatchObject({ code: 'INVALID_BSN' });
    expect(logs.filter((e) => e['path'] === '/v1/evaluate').map((e) => e['elements'])).toEqual([1]);
  });

  it('serves several keys for rotation: a client pins the old key and keeps getting its pseudonyms', async () => {
    const s = await service({ keys: [keyB.voprf, keyB.oprf, keyA.voprf, keyA.oprf] });
    const current = await client(s);
    expect(current.kid).toBe(keyB.voprf.kid);
    const pinned = await client(s, { kid: keyA.voprf.kid });
    expect(await pinned.pseudonymise('111222333')).toBe(await expected(keyA.voprf, '111222333'));
    await expectCode(client(s, { kid: 'ffffffffffff' }), 'KEY_MISMATCH');
    await expectCode(client(s, { kid: keyA.voprf.kid, mode: 'oprf' }), 'KEY_MISMATCH');
  });

  it('a service that did not evaluate with its published key fails the proof: PROOF_INVALID', async () => {
    // A dishonest service: publishes key A, evaluates (and proves) with key B.
    const f = await FastOprf.load('voprf');
    const fake = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.url === '/v1/keys')
          return void res.end(
            JSON.stringify({
              suite: 'ristretto255-SHA512',
              keys: [{ kid: keyA.voprf.kid, mode: 'voprf', publicKey: toBase64Url(keyA.voprf.publicKey), current: true }],
            }),
          );
        const { elements } = JSON.parse(body) as { elements: string[] };
        const blinded = Buffer.concat(elements.map((e) => Buffer.from(e, 'base64url')));
        const evaluated = f.evaluate(keyB.voprf.secretKey, blinded);
        const proof = f.prove(keyB.voprf.secretKey, blinded, evaluated);
        res.end(
          JSON.stringify({
            kid: keyA.voprf.kid,
            mode: 'voprf',
            evaluated: elements.map((_, i) => toBase64Url(evaluated.subarray(i * 32, i * 32 + 32))),
            proof: toBase64Url(proof),
          }),
        );
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    running.push({ close: () => new Promise<void>((r) => fake.close(() => r())) });
    const c = await client({ port: (fake.address() as { port: number }).port });
    await expectCode(c.pseudonymiseMany(ids), 'PROOF_INVALID');
  });
});

describe('blind pseudonymisation: the service refuses what it must', () => {
  it('malformed, invalid-point, unknown-key and oversized requests get typed errors', async () => {
    const s = await service({ maxBatch: 4 });
    const el = toBase64Url(new Uint8Array(32).fill(0xff));
    expect(await post(s.port, 'not json')).toMatchObject({ status: 400, json: { code: 'MESSAGE_MALFORMED' } });
    expect(await post(s.port, JSON.stringify({ kid: keyA.voprf.kid, elements: [el] }))).toMatchObject({ status: 400, json: { code: 'INVALID_POINT' } });
    expect(await post(s.port, JSON.stringify({ kid: keyA.voprf.kid, elements: ['short'] }))).toMatchObject({
      status: 400,
      json: { code: 'MESSAGE_MALFORMED' },
    });
    expect(await post(s.port, JSON.stringify({ kid: 'nope', elements: [el] }))).toMatchObject({ status: 404, json: { code: 'KEY_MISMATCH' } });
    expect(await post(s.port, JSON.stringify({ kid: keyA.voprf.kid, elements: new Array(5).fill(el) }))).toMatchObject({
      status: 400,
      json: { code: 'MESSAGE_MALFORMED' },
    });
    expect(await post(s.port, JSON.stringify({ kid: keyA.voprf.kid, elements: new Array(50).fill(el) }))).toMatchObject({
      status: 413,
      json: { code: 'MESSAGE_TOO_LARGE' },
    });
    expect((await fetch(`http://127.0.0.1:${s.port}/health`)).status).toBe(200);
  });

  it('rate limits each client: 429 RATE_LIMITED with Retry-After', async () => {
    const s = await service({ rate: 1 });
    const c = await client(s);
    const body = JSON.stringify({ kid: c.kid, elements: [] });
    const statuses = await Promise.all(Array.from({ length: 6 }, () => post(s.port, body)));
    const limited = statuses.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]).toMatchObject({ json: { code: 'RATE_LIMITED' } });
    expect(Number(limited[0]?.retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it('meters every client against its evaluation budget: BUDGET_EXHAUSTED, not retried', async () => {
    const s = await service({ budget: 5 });
    const c = await client(s);
    await c.pseudonymiseMany(ids); // 4 of 5
    await expectCode(c.pseudonymiseMany(ids.slice(0, 2)), 'BUDGET_EXHAUSTED');
  });

  it('with bearer tokens: no token or a wrong one is 401 UNAUTHORIZED; each client is metered under its own name', async () => {
    const logs: Array<Record<string, unknown>> = [];
    const s = await service({ tokens: [{ client: 'cbs', token: 'tok-cbs-0123456789abcdef' }] }, logs);
    await expectCode(client(s), 'UNAUTHORIZED');
    await expectCode(client(s, { token: 'tok-wrong-0123456789abcd' }), 'UNAUTHORIZED');
    const c = await client(s, { token: 'tok-cbs-0123456789abcdef' });
    expect(await c.pseudonymise('111222333')).toBe(await expected(keyA.voprf, '111222333'));
    expect(logs.some((e) => e['client'] === 'cbs' && e['status'] === 200)).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('tok-cbs');
  });

  it('with mutual TLS: clients are named by certificate; a client without one cannot connect', async () => {
    const pki = testPki();
    const logs: Array<Record<string, unknown>> = [];
    const s = await service(
      { tls: { cert: readFileSync(pki.serverCert, 'utf8'), key: readFileSync(pki.serverKey, 'utf8'), ca: readFileSync(pki.ca, 'utf8') } },
      logs,
    );
    const url = `https://127.0.0.1:${s.port}`;
    const c = await OprfPseudonymiser.connect({
      url,
      threads: 0,
      tls: { ca: readFileSync(pki.ca, 'utf8'), cert: readFileSync(pki.clientCert, 'utf8'), key: readFileSync(pki.clientKey, 'utf8') },
    });
    running.push(c);
    expect(await c.pseudonymise('111222333')).toBe(await expected(keyA.voprf, '111222333'));
    expect(logs.some((e) => String(e['client']).startsWith('cert:') && e['status'] === 200)).toBe(true);
    // Without a certificate every TLS handshake fails (NETWORK_ERROR, retried) until the
    // client gives up: SERVICE_UNAVAILABLE.
    const retries: string[] = [];
    await expectCode(
      OprfPseudonymiser.connect({ url, threads: 0, retryForMs: 500, onRetry: (r) => retries.push(r.code), tls: { ca: readFileSync(pki.ca, 'utf8') } }),
      'SERVICE_UNAVAILABLE',
    );
    expect(retries.length).toBeGreaterThan(0);
    expect(new Set(retries)).toEqual(new Set(['NETWORK_ERROR']));
  });

  it('access logs name client, path, status and counts, never an element', async () => {
    const logs: Array<Record<string, unknown>> = [];
    const s = await service({}, logs);
    const c = await client(s);
    await c.pseudonymiseMany(ids);
    const text = JSON.stringify(logs);
    for (const e of logs) expect(Object.keys(e).sort()).toEqual(expect.arrayContaining(['time', 'event']));
    // No 43-character base64url string (an element or a pseudonym) and no identifier in any entry.
    expect(text).not.toMatch(/[A-Za-z0-9_-]{43}/);
    for (const id of ids) expect(text).not.toContain(id);
  });
});

describe('blind pseudonymisation: availability', () => {
  it('shuts down gracefully: a request in flight completes, later ones are refused', async () => {
    const s = await startOprfService({ keys: [keyA.voprf], host: '127.0.0.1', port: 0, threads: 0 });
    const f = await FastOprf.load('voprf');
    const { blinded } = f.blind(Array.from({ length: 2000 }, (_, i) => new TextEncoder().encode(`id-${i}`)));
    const elements = Array.from({ length: 2000 }, (_, i) => toBase64Url(blinded.subarray(i * 32, i * 32 + 32)));
    const inFlight = post(s.port, JSON.stringify({ kid: keyA.voprf.kid, elements })); // about half a second of work
    await new Promise((r) => setTimeout(r, 100));
    await s.close();
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect((r.json as { evaluated?: string[] }).evaluated).toHaveLength(2000);
    // Closed means nothing listens: the connection is refused (fetch's own error, not koppel's).
    await expect(fetch(`http://127.0.0.1:${s.port}/health`)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
  });

  it('a client in the middle of a file waits for a restarting service, and loses or repeats nothing', async () => {
    const first = await startOprfService({ keys: [keyA.voprf], host: '127.0.0.1', port: 0, threads: 0 });
    const port = first.port;
    const c = await OprfPseudonymiser.connect({ url: `http://127.0.0.1:${port}`, threads: 0, batchSize: 50, concurrency: 2, retryForMs: 20_000 });
    running.push(c);
    const many = Array.from({ length: 3000 }, (_, i) => `person-${i}`);
    const run = c.pseudonymiseMany(many);
    await new Promise((r) => setTimeout(r, 150));
    await first.close(); // the service goes away mid-file...
    await new Promise((r) => setTimeout(r, 500));
    const second = await startOprfService({ keys: [keyA.voprf], host: '127.0.0.1', port, threads: 0 }); // ...and comes back
    running.push(second);
    const got = await run;
    expect(got).toHaveLength(3000);
    const sample = [0, 1499, 2999];
    for (const i of sample) expect(got[i]).toBe(await expected(keyA.voprf, many[i] as string));
    expect(new Set(got).size).toBe(3000);
  });
});
