/**
 * A headless Chromium (Debian's `chromium` package) driven over the DevTools protocol,
 * for the report's browser test, with no npm dependency: the protocol runs over the pipe
 * Chromium opens with `--remote-debugging-pipe` (file descriptors 3 and 4, messages
 * separated by NUL), so neither a WebSocket client nor a driver package is needed.
 *
 * The page is opened with the Network domain enabled (every request the page makes is
 * recorded) and behind a proxy that refuses every connection.
 *
 * @packageDocumentation
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** The Chromium executable on this machine (`KOPPEL_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH), or undefined. */
export function findChromium(): string | undefined {
  const candidates = [process.env['KOPPEL_CHROMIUM'], 'chromium', 'chromium-browser'].filter((c): c is string => !!c);
  for (const c of candidates) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0 && /chromium|chrome/i.test(r.stdout)) return c;
  }
  return undefined;
}

interface Message {
  readonly id?: number;
  readonly method?: string;
  readonly params?: Record<string, unknown>;
  readonly result?: Record<string, unknown>;
  readonly error?: { readonly message: string };
  readonly sessionId?: string;
}

/** A page opened in headless Chromium. */
export interface OpenedPage {
  /** The URL of every request the page made (the Network domain's `requestWillBeSent`), the page's own document included. */
  readonly requests: readonly string[];
  /** Console and log entries of the page (CSP violations appear here). */
  readonly log: readonly string[];
  /** Evaluates an expression in the page and returns its value (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Opens `url` in a new headless Chromium and resolves once the page's load event has
 * fired. Every step has a deadline: `timeoutMs` for each protocol call, and `startMs` for
 * the first, which waits for Chromium to start (cold on a fresh machine, with a test run
 * beside it, that has taken more than 15 s).
 */
export async function openPage(chromium: string, url: string, timeoutMs = 15_000, startMs = 60_000): Promise<OpenedPage> {
  const profile = mkdtempSync(join(tmpdir(), 'koppel-chromium-'));
  const child: ChildProcess = spawn(
    chromium,
    [
      '--headless',
      '--no-sandbox', // CI runs as root, where Chromium's sandbox cannot start
      '--disable-gpu',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-extensions',
      // Every http(s) request would go to a proxy that refuses it (port 9, nothing listens).
      '--proxy-server=http://127.0.0.1:9',
      '--proxy-bypass-list=<-loopback>',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  let stderr = '';
  (child.stderr as Readable).setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners = new Set<(m: Message) => void>();
  let nextId = 1;
  let buffer = '';
  let exited = false;
  fromBrowser.setEncoding('utf8').on('data', (d: string) => {
    buffer += d;
    let end;
    while ((end = buffer.indexOf('\0')) !== -1) {
      const m = JSON.parse(buffer.slice(0, end)) as Message;
      buffer = buffer.slice(end + 1);
      if (m.id !== undefined) {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.error) p?.reject(new Error(`DevTools: ${m.error.message}`));
        else p?.resolve(m);
      } else {
        for (const l of listeners) l(m);
      }
    }
  });
  child.on('exit', () => {
    exited = true;
    for (const p of pending.values()) p.reject(new Error(`Chromium exited: ${stderr}`));
    pending.clear();
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string, ms = timeoutMs): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      if (exited) return reject(new Error(`Chromium is not running: ${stderr}`));
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`DevTools ${method}: no answer within ${ms} ms`));
      }, ms);
      pending.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m.result ?? {});
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      toBrowser.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  const waitForEvent = (method: string, sessionId: string): Promise<Message> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(on);
        reject(new Error(`DevTools: no ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (m: Message): void => {
        if (m.method === method && m.sessionId === sessionId) {
          clearTimeout(timer);
          listeners.delete(on);
          resolve(m);
        }
      };
      listeners.add(on);
    });
  const close = async (): Promise<void> => {
    if (!exited) {
      await send('Browser.close').catch(() => undefined);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        if (exited) resolve();
      });
    }
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const { targetId } = (await send('Target.createTarget', { url: 'about:blank' }, undefined, startMs)) as { targetId: string };
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const requests: string[] = [];
    const log: string[] = [];
    listeners.add((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === 'Network.requestWillBeSent') requests.push(String((m.params?.['request'] as { url?: string } | undefined)?.url));
      if (m.method === 'Log.entryAdded') log.push(String((m.params?.['entry'] as { text?: string } | undefined)?.text));
      if (m.method === 'Runtime.consoleAPICalled') log.push(JSON.stringify(m.params?.['args']));
    });
    await send('Network.enable', {}, sessionId);
    await send('Log.enable', {}, sessionId);
    await send('Runtime.enable', {}, sessionId);
    await send('Page.enable', {}, sessionId);
    const loaded = waitForEvent('Page.loadEventFired', sessionId);
    await send('Page.navigate', { url }, sessionId);
    await loaded;
    return {
      requests,
      log,
      async evaluate<T>(expression: string): Promise<T> {
        const r = (await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId)) as {
          result: { value?: unknown };
          exceptionDetails?: { text: string };
        };
        if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.text}`);
        return r.result.value as T;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
