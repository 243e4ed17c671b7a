/**
 * The OPRF service under an agreement and with receipts, as a library: each client's
 * budget from the agreement, the agreement's mode, the service's pin on the client,
 * the suite checked by the client, and the service's open runs bounded per client and
 * in time, so a hostile client cannot grow them.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { OprfPseudonymiser, type OprfClientOptions } from '../../src/oprf/client.js';
import { generateOprfKeyFile, importOprfKeyFile } from '../../src/oprf/key.js';
import { startOprfService, type OprfAgreementTerms, type OprfServiceOptions } from '../../src/oprf/service.js';
import { signReceipt, type ReceiptBody, type ReceiptFile } from '../../src/agreement/receipt.js';
import { expectCode } from '../helpers/expect-code.js';
import { testPki } from '../tls.js';

const key = importOprfKeyFile(generateOprfKeyFile());
const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});
const read = (p: string) => readFileSync(p, 'utf8');
const HASH = 'ab'.repeat(32);

function terms(over: Partial<OprfAgreementTerms> = {}): OprfAgreementTerms {
  return { hash: HASH, id: 'test', version: 1, party: 'keyholder', mode: 'voprf', clients: [{ name: 'logius', certificate: { names: ['client'] } }], ...over };
}

async function service(over: Partial<OprfServiceOptions> = {}) {
  const p = testPki();
  const s = await startOprfService({
    keys: [key.voprf, key.oprf],
    host: '127.0.0.1',
    port: 0,
    threads: 0,
    tls: { cert: read(p.serverCert), key: read(p.serverKey), ca: read(p.ca) },
    ...over,
  });
  running.push(s);
  return s;
}

function receipts(written: ReceiptFile[], over: Partial<NonNullable<OprfServiceOptions['receipts']>> = {}): NonNullable<OprfServiceOptions['receipts']> {
  const p = testPki();
  return { signer: { cert: read(p.serverCert), key: read(p.serverKey) }, ca: read(p.ca), write: (r) => written.push(r), ...over };
}

async function client(port: number, over: Partial<OprfClientOptions> = {}): Promise<OprfPseudonymiser> {
  const p = testPki();
  const c = await OprfPseudonymiser.connect({
    url: `https://127.0.0.1:${port}`,
    threads: 0,
    retryForMs: 1000,
    tls: { ca: read(p.ca), cert: read(p.clientCert), key: read(p.clientKey) },
    ...over,
  });
  running.push(c);
  return c;
}

describe('the OPRF service under an agreement', () => {
  it("each client gets the budget the agreement gives it, not the service's", async () => {
    const s = await service({ budget: 1000, agreement: terms({ clients: [{ name: 'logius', certificate: { names: ['client'] }, budget: 3 }] }) });
    const c = await client(s.port, { agreementHash: HASH });
    await c.pseudonymiseMany(['111222333', '123456782', '012345672']);
    await expectCode(c.pseudonymise('010000008'), 'BUDGET_EXHAUSTED');
  });

  it("an evaluation in the other mode than the agreement's is MODE_MISMATCH, typed on the client", async () => {
    const s = await service({ agreement: terms({ mode: 'voprf' }) });
    const c = await client(s.port, { agreementHash: HASH, mode: 'oprf' });
    const e = await expectCode(c.pseudonymise('111222333'), 'MODE_MISMATCH');
    expect(e.message).toContain('Field: mode');
  });

  it('a client pinning the service refuses a service with another certificate (PEER_NOT_ALLOWED), before any request', async () => {
    const s = await service();
    await expectCode(client(s.port, { servicePin: { names: ['other-agency'] } }), 'PEER_NOT_ALLOWED');
    await client(s.port, { servicePin: { names: ['localhost'] } });
  });

  it('a service of another suite is SUITE_MISMATCH on the client', async () => {
    const fake = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ suite: 'P256-SHA256', keys: [{ kid: 'k', mode: 'voprf', publicKey: 'A'.repeat(43), current: true }] }));
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    running.push({ close: () => new Promise<void>((r) => fake.close(() => r())) });
    const port = (fake.address() as { port: number }).port;
    const e = await expectCode(OprfPseudonymiser.connect({ url: `http://127.0.0.1:${port}`, threads: 0 }), 'SUITE_MISMATCH');
    expect(e.message).toContain('suite');
  });
});

describe("the OPRF service's open runs", () => {
  it("a client opening more runs than its share closes its oldest (ABORTED, the service's own receipt), whose receipt is then refused", async () => {
    const written: ReceiptFile[] = [];
    const s = await service({ receipts: receipts(written, { maxRunsPerClient: 2 }) });
    const clients = [await client(s.port, { receipt: true }), await client(s.port, { receipt: true }), await client(s.port, { receipt: true })];
    for (const c of clients) await c.pseudonymise('111222333');
    expect(written).toHaveLength(1);
    expect(written[0]?.receipt).toMatchObject({ status: 'failed', error: 'ABORTED', session: clients[0]?.run()?.run, learned: { batches: 1, evaluations: 1 } });
    const first = clients[0] as OprfPseudonymiser;
    const run = first.run();
    const p = testPki();
    const body: ReceiptBody = {
      koppelReceipt: 1,
      command: 'pseudonymise --oprf',
      role: 'client',
      koppel: 'test',
      protocol: { name: 'oprf', version: 1 },
      agreement: null,
      session: run?.run ?? null,
      transcript: run?.transcript ?? null,
      self: { names: ['client'], fingerprint: 'x' },
      peer: { names: [], fingerprint: null },
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      status: 'completed',
      error: null,
      inputs: {},
      learned: {},
      outputs: [],
    };
    const e = await expectCode(
      first.postReceipt({ receipt: body, ...signReceipt(body, { cert: read(p.clientCert), key: read(p.clientKey) }) }),
      'PROOF_INVALID',
    );
    expect(e.details?.['status']).toBe(409);
    // The two younger runs are still open: nothing more is written.
    expect(written).toHaveLength(1);
  });

  it('a run idle past its time is closed with TIMEOUT, and a service that stops closes the rest with ABORTED', async () => {
    const written: ReceiptFile[] = [];
    const s = await service({ receipts: receipts(written, { runIdleMs: 150 }) });
    const a = await client(s.port, { receipt: true });
    await a.pseudonymiseMany(['111222333', '123456782']);
    await new Promise((r) => setTimeout(r, 500));
    expect(written.map((w) => w.receipt.error)).toEqual(['TIMEOUT']);
    const b = await client(s.port, { receipt: true });
    await b.pseudonymise('111222333');
    await s.close();
    expect(written.map((w) => w.receipt.error)).toEqual(['TIMEOUT', 'ABORTED']);
    expect(written[1]?.receipt.session).toBe(b.run()?.run);
  });

  it('a client asking for a receipt from a service that keeps none is refused before anything is evaluated', async () => {
    const s = await service();
    await expectCode(client(s.port, { receipt: true }), 'INVALID_ARGUMENT');
  });
});
