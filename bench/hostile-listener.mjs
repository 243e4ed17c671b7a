#!/usr/bin/env node
/**
 * A listener under hostile load (issue 16), measured, never asserted.
 *
 * 1. Memory: a victim process listens (as an aggregator does: it takes every
 *    connection and waits for its messages); N hostile connections each send a small
 *    first message and then most of a 16 MiB frame, and hold it. Reports the victim's
 *    peak RSS, and how many connections it held and dropped.
 * 2. CPU: one connection sends a 16 MiB frame in 1 KiB writes; reports the victim's CPU
 *    time until the frame is delivered (and the same frame in one write).
 *
 * Usage: node bench/hostile-listener.mjs [--connections 30,300] [--dist DIR] [--quick]
 *   --dist DIR: the built koppel to measure (default ../dist; another checkout's dist
 *   measures that version, e.g. the one before the listener limits).
 *   --quick: 5 connections and a 1 MiB frame, for a smoke run.
 */
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const quick = args.includes('--quick');
const dist = resolve(flag('--dist', fileURLToPath(new URL('../dist', import.meta.url))));
const FRAME = quick ? 1024 * 1024 : 16 * 1024 * 1024;

if (args.includes('--victim')) {
  // The victim: listen, take every connection, wait for its messages; report peak RSS and CPU.
  const { listen } = await import(`${dist}/transport/net.js`);
  const l = await listen({ host: '127.0.0.1', port: 0, security: { insecure: true }, idleTimeoutMs: 600_000 });
  let peak = process.memoryUsage().rss;
  let held = 0;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const cpu0 = process.cpuUsage();
  process.stdout.write(JSON.stringify({ port: l.port, rss: peak }) + '\n');
  void (async () => {
    for (;;) {
      const ch = await l.accept().catch(() => undefined);
      if (!ch) return;
      held++;
      void (async () => {
        for (;;) {
          const m = await ch.receive();
          if (m.length > 1024) {
            const c = process.cpuUsage(cpu0);
            process.stdout.write(JSON.stringify({ frame: m.length, cpuMs: Math.round((c.user + c.system) / 1000) }) + '\n');
          }
        }
      })().catch(() => undefined);
    }
  })();
  process.stdin.on('data', () => {
    clearInterval(sample);
    peak = Math.max(peak, process.memoryUsage().rss);
    process.stdout.write(JSON.stringify({ peakRss: peak, held }) + '\n');
    process.exit(0);
  });
} else {
  const victim = () =>
    new Promise((resolveVictim) => {
      const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--victim', '--dist', dist], { stdio: ['pipe', 'pipe', 'inherit'] });
      let buf = '';
      const lines = [];
      const waiters = [];
      p.stdout.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = JSON.parse(buf.slice(0, i));
          buf = buf.slice(i + 1);
          const w = waiters.shift();
          if (w) w(line);
          else lines.push(line);
        }
      });
      const next = () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => waiters.push(r)));
      void next().then((hello) => resolveVictim({ p, port: hello.port, rss0: hello.rss, next }));
    });
  const header = (n) => {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(n);
    return h;
  };
  const firstMessage = Buffer.concat([header(40), Buffer.alloc(40, 1)]);
  const mb = (n) => Math.round(n / (1024 * 1024));

  const results = { memory: [], cpu: [] };
  for (const n of (flag('--connections', quick ? '5' : '30,300') ?? '').split(',').map(Number)) {
    const v = await victim();
    const sockets = [];
    let dropped = 0;
    const deadline = Date.now() + (quick ? 2000 : 8000);
    await Promise.all(
      Array.from({ length: n }, async () => {
        const s = net.connect(v.port, '127.0.0.1');
        s.on('error', () => undefined);
        s.on('close', () => dropped++);
        sockets.push(s);
        await new Promise((r) => s.once('connect', r).once('close', r));
        s.write(firstMessage);
        s.write(header(FRAME));
        // Most of the frame, with back-pressure: the attacker buffers nothing itself.
        const chunk = Buffer.alloc(64 * 1024, 7);
        let sent = 0;
        while (sent + chunk.length < FRAME - 1024 && Date.now() < deadline && !s.destroyed) {
          const ok = s.write(chunk);
          sent += chunk.length;
          if (!ok) await new Promise((r) => (s.once('drain', r), setTimeout(r, Math.max(0, deadline - Date.now()))));
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    v.p.stdin.write('report\n');
    let report = await v.next();
    while (report.peakRss === undefined) report = await v.next();
    results.memory.push({ connections: n, peakRssMb: mb(report.peakRss), baseRssMb: mb(v.rss0), held: report.held, closedByVictim: dropped });
    console.error(
      `hostile-listener: ${n} connections each holding a partial ${mb(FRAME)} MiB frame: victim peak RSS ${mb(report.peakRss)} MB (base ${mb(v.rss0)} MB), ${report.held} taken, ${dropped} closed`,
    );
    for (const s of sockets) s.destroy();
  }

  for (const piece of [1024, FRAME]) {
    const v = await victim();
    const s = net.connect(v.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.setNoDelay(true);
    s.write(firstMessage);
    s.write(header(FRAME));
    const data = Buffer.alloc(FRAME, 3);
    for (let at = 0; at < FRAME; at += piece) {
      if (!s.write(data.subarray(at, Math.min(FRAME, at + piece)))) await new Promise((r) => s.once('drain', r));
      // One write per turn of the event loop: the pieces reach the victim as separate reads.
      if (piece < FRAME) await new Promise((r) => setImmediate(r));
    }
    const got = await v.next();
    results.cpu.push({ pieceBytes: piece, frameBytes: FRAME, victimCpuMs: got.cpuMs });
    console.error(`hostile-listener: a ${mb(FRAME)} MiB frame in ${piece === FRAME ? 'one write' : `${piece}-byte writes`}: victim CPU ${got.cpuMs} ms`);
    s.destroy();
    v.p.stdin.write('report\n');
    await v.next();
  }
  console.log(JSON.stringify({ dist, ...results }));
}
