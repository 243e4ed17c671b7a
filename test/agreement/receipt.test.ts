/**
 * The receipt exchange against a hostile peer (issue 17): a malformed receipt is a typed
 * error (never INTERNAL), a receipt signed with another certificate than the one the peer
 * connected with is PROOF_INVALID, and honest peers end with receipts that verify.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exchangeReceipts, RECEIPT_STEP, verifyReceipt, type ReceiptBody, type ReceiptFile } from '../../src/agreement/receipt.js';
import { certificateIdentity, type Signer } from '../../src/agreement/signature.js';
import { psiClient, psiServer } from '../../src/psi/psi.js';
import type { Session } from '../../src/session/session.js';
import { connect, listen } from '../../src/transport/net.js';
import { expectCode } from '../helpers.js';
import { testPki } from '../tls.js';

const read = (p: string) => readFileSync(p, 'utf8');

function body(s: Session, signer: Signer): ReceiptBody {
  const me = certificateIdentity(signer.cert);
  return {
    koppelReceipt: 1,
    command: 'test',
    role: 'test',
    koppel: '0',
    protocol: { name: s.protocol.name, version: s.protocol.version },
    agreement: null,
    session: s.idHex,
    transcript: Buffer.from(s.transcript()).toString('hex'),
    self: { names: me.names, fingerprint: me.fingerprint ?? '' },
    peer: { names: s.peer?.names ?? [], fingerprint: s.peer?.fingerprint ?? null },
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    status: 'completed',
    error: null,
    inputs: {},
    learned: {},
    outputs: [],
  };
}

/** A PSI over mutual TLS; each side's beforeClose does what the test says with its session. */
async function run(server: (s: Session) => Promise<unknown>, client: (s: Session) => Promise<unknown>) {
  const p = testPki();
  const tls = (cert: string, key: string) => ({ tls: { cert: read(cert), key: read(key), ca: read(p.ca) } });
  const listener = await listen({ host: '127.0.0.1', port: 0, security: tls(p.serverCert, p.serverKey) });
  let ss: Session | undefined;
  let cs: Session | undefined;
  const out: { server?: unknown; client?: unknown } = {};
  const serving = (async () => {
    const ch = await listener.accept(10_000);
    await listener.close();
    try {
      await psiServer(ch, ['a', 'b'], {
        threads: 0,
        onSession: (s) => (ss = s),
        beforeClose: async () => {
          out.server = await server(ss as Session);
        },
      });
    } finally {
      await ch.close();
    }
  })();
  const ch = await connect({ host: '127.0.0.1', port: listener.port, security: tls(p.clientCert, p.clientKey), idleTimeoutMs: 5000 });
  const clientRun = psiClient(ch, ['b', 'c'], {
    threads: 0,
    onSession: (s) => (cs = s),
    beforeClose: async () => {
      out.client = await client(cs as Session);
    },
  }).finally(() => ch.close());
  const [a, b] = await Promise.allSettled([serving, clientRun]);
  return { server: a, client: b, out };
}

describe('receipts against a hostile peer', () => {
  const p = testPki();
  const serverSigner = { cert: read(p.serverCert), key: read(p.serverKey) };
  const clientSigner = { cert: read(p.clientCert), key: read(p.clientKey) };
  const ca = read(p.ca);

  it('honest peers: both receipts verify, countersigned, with the same transcript', async () => {
    const r = await run(
      (s) => exchangeReceipts(s, body(s, serverSigner), serverSigner, ca),
      (s) => exchangeReceipts(s, body(s, clientSigner), clientSigner, ca),
    );
    expect(r.server.status).toBe('fulfilled');
    expect(r.client.status).toBe('fulfilled');
    const a = r.out.server as ReceiptFile;
    const b = r.out.client as ReceiptFile;
    expect(a.receipt.transcript).toBe(b.receipt.transcript);
    expect(verifyReceipt(a, ca).problems).toEqual([]);
    expect(verifyReceipt(b, ca).problems).toEqual([]);
  });

  it('a malformed receipt (nested garbage in place of the body) is MESSAGE_MALFORMED, not INTERNAL', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 1500; i++) deep = [deep];
    const r = await run(
      (s) => exchangeReceipts(s, body(s, serverSigner), serverSigner, ca),
      async (s) => {
        await s.sendJson(RECEIPT_STEP, { receipt: { koppelReceipt: 1, learned: { x: deep } }, certificate: 'x', signature: 'y' });
        await new Promise((res) => setTimeout(res, 300));
      },
    );
    if (r.server.status !== 'rejected') throw new Error('the server accepted a malformed receipt');
    await expectCode(Promise.reject(r.server.reason as Error), 'MESSAGE_MALFORMED');
  });

  it("a receipt signed with another agency's valid certificate than the one the peer connected with is PROOF_INVALID", async () => {
    const other = { cert: read(p.otherAgencyCert), key: read(p.otherAgencyKey) };
    const r = await run(
      (s) => exchangeReceipts(s, body(s, serverSigner), serverSigner, ca),
      (s) => exchangeReceipts(s, body(s, other), other, ca),
    );
    if (r.server.status !== 'rejected') throw new Error('the server accepted a forged receipt');
    await expectCode(Promise.reject(r.server.reason as Error), 'PROOF_INVALID');
  });
});
