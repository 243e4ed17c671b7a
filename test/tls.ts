/**
 * Test certificates for mutual TLS, made with the openssl command line: a CA, a server
 * certificate for 127.0.0.1 and localhost, a client certificate, a second certificate
 * from the SAME CA for another agency (CN=other-agency, DNS other-agency.example, also
 * usable as a server for 127.0.0.1: the holder of another valid certificate, which
 * peer pinning must refuse), a second, unrelated CA with its own client certificate
 * (to test rejection by the chain), and a certificate of the CA that expired in 2020
 * (client and server use, for 127.0.0.1).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM files of one test PKI. */
export interface TestPki {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A valid certificate of the same CA for a third party (client and server use). */
  readonly otherAgencyCert: string;
  readonly otherAgencyKey: string;
  readonly otherCa: string;
  readonly otherClientCert: string;
  readonly otherClientKey: string;
  /** A client certificate of the CA without a subject CN. */
  readonly noCnCert: string;
  readonly noCnKey: string;
  /** A certificate of the CA, valid only on 1 January 2020 (client and server use, 127.0.0.1). */
  readonly expiredCert: string;
  readonly expiredKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

function issue(dir: string, ca: string, name: string, ext: string, subject = `/CN=${name}`): void {
  openssl(
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject],
    dir,
  );
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.crt`,
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
}

function makeCa(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
}

/** Issues `name` with validity dates in the past (`openssl ca` can set them; `x509 -days` cannot). */
function issueExpired(dir: string, ca: string, name: string): void {
  mkdirSync(join(dir, `${name}-db`));
  writeFileSync(join(dir, `${name}-db`, 'index.txt'), '');
  writeFileSync(join(dir, `${name}-db`, 'serial'), '01\n');
  writeFileSync(
    join(dir, `${name}.cnf`),
    [
      '[ ca ]',
      'default_ca = d',
      '[ d ]',
      `database = ${name}-db/index.txt`,
      `serial = ${name}-db/serial`,
      `new_certs_dir = ${name}-db`,
      'default_md = sha256',
      'policy = p',
      '[ p ]',
      'commonName = supplied',
      '[ ext ]',
      'extendedKeyUsage = serverAuth,clientAuth',
      'subjectAltName = IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
  openssl(
    [
      'ca',
      '-batch',
      '-config',
      `${name}.cnf`,
      '-cert',
      `${ca}.crt`,
      '-keyfile',
      `${ca}.key`,
      '-in',
      `${name}.csr`,
      '-out',
      `${name}.crt`,
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200102000000Z',
      '-extensions',
      'ext',
      '-notext',
    ],
    dir,
  );
}

let cached: TestPki | undefined;

/** Creates (once per test process) a PKI in a temporary directory. */
export function testPki(): TestPki {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'koppel-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  issue(dir, 'ca', 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  issue(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\n');
  issue(dir, 'ca', 'other-agency', 'subjectAltName=DNS:other-agency.example,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  issue(dir, 'other-ca', 'intruder', 'extendedKeyUsage=clientAuth\n');
  // A client certificate with no CN (only an organisation), as some agencies' PKIs issue.
  issue(dir, 'ca', 'no-cn', 'extendedKeyUsage=clientAuth\n', '/O=Gemeente Voorbeeld');
  issueExpired(dir, 'ca', 'expired');
  const r = (f: string) => join(dir, f);
  cached = {
    dir,
    ca: r('ca.crt'),
    serverCert: r('server.crt'),
    serverKey: r('server.key'),
    clientCert: r('client.crt'),
    clientKey: r('client.key'),
    otherAgencyCert: r('other-agency.crt'),
    otherAgencyKey: r('other-agency.key'),
    otherCa: r('other-ca.crt'),
    otherClientCert: r('intruder.crt'),
    otherClientKey: r('intruder.key'),
    noCnCert: r('no-cn.crt'),
    noCnKey: r('no-cn.key'),
    expiredCert: r('expired.crt'),
    expiredKey: r('expired.key'),
  };
  return cached;
}

/** Reads a PEM file. */
export function pem(path: string): string {
  return readFileSync(path, 'utf8');
}

/** SHA-256 of a PEM certificate's DER encoding, lower-case hex (what `--peer-fingerprint` takes). */
export function certFingerprint(path: string): string {
  return createHash('sha256')
    .update(new X509Certificate(readFileSync(path, 'utf8')).raw)
    .digest('hex');
}
