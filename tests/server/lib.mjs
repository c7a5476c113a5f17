// lib.mjs — shared helpers for the server tests: a counting check(), starting/stopping `minimax serve`
// on a free loopback port, raw HTTP/SSE helpers and timing. Every test file ends with done(), which prints
// the "MMT <passed> <failed>" line tests/run.sh adds up.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const BIN = process.env.MM_BIN;
export const SHARED = process.env.MM_SHARED || '../shared';
export const TMP = process.env.MM_TEST_TMP || '/tmp';
export const SAN = !!process.env.MM_SANITIZE;
export const GOLDEN = path.join(SHARED, 'golden/a_small_mixed');
export const TEXT_MODEL = process.env.MM_SERVER_TEXT_MODEL;   // mkmodel checkpoint with tokenizer.json (cli_server.sh)
export const CHROMIUM = process.env.MM_CHROMIUM || '/usr/bin/chromium';

let passed = 0, failed = 0;
export function check(cond, msg, extra) {
  if (cond) passed++;
  else {
    failed++;
    console.error(`FAIL ${msg}` + (extra !== undefined ? `: ${typeof extra === 'string' ? extra : JSON.stringify(extra)}` : ''));
  }
  return cond;
}
export function done() {
  console.log(`MMT ${passed} ${failed}`);
  process.exit(failed ? 1 : 0);
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();

// Starts `minimax serve ARGS --port 0` and resolves once it prints "ready:". Returns {url, port, proc, log()}.
// shellArgs: more arguments written as a bash snippet (for bytes a JS string cannot carry, e.g. $'\xff').
// launcher: a command the server runs under (['mpirun', '--oversubscribe', '-np', '2']).
export function startServer(args, { timeoutMs = 120000, shellArgs = '', launcher = null } = {}) {
  return new Promise((resolve, reject) => {
    const argv = ['serve', ...args, '--port', '0'];
    const proc = shellArgs ? spawn('bash', ['-c', `exec "$@" ${shellArgs}`, 'bash', BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
               : launcher ? spawn(launcher[0], [...launcher.slice(1), BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
                          : spawn(BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '', port = 0, settled = false;
    const onData = (d) => {
      log += d.toString();
      const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) port = +m[1];
      if (!settled && port && /ready:/.test(log)) {
        settled = true;
        resolve({ url: `http://127.0.0.1:${port}`, port, proc, log: () => log });
      }
    };
    proc.stderr.on('data', onData);
    proc.stdout.on('data', onData);
    proc.on('exit', (code) => {
      if (!settled) { settled = true; reject(new Error(`server exited (${code}) before ready:\n${log}`)); }
    });
    setTimeout(() => { if (!settled) { settled = true; proc.kill('SIGKILL'); reject(new Error(`server not ready in ${timeoutMs} ms:\n${log}`)); } }, timeoutMs);
  });
}

// SIGTERM, then the exit code (SIGKILL after timeoutMs). Under the sanitizers a leak makes the code non-zero.
export function stopServer(srv, timeoutMs = 60000) {
  return new Promise((resolve) => {
    if (srv.proc.exitCode !== null) return resolve(srv.proc.exitCode);
    const t = setTimeout(() => srv.proc.kill('SIGKILL'), timeoutMs);
    srv.proc.on('exit', (code, sig) => { clearTimeout(t); resolve(code ?? sig); });
    srv.proc.kill('SIGTERM');
  });
}

export async function post(url, body, headers = {}) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers },
                               body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

export async function get(url, headers = {}) {
  const r = await fetch(url, { headers });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

// A streaming request read event by event. Returns {events (parsed JSON), done ([DONE] seen), tFirst, tEnd, status}.
// onEvent(ev, i) may return 'abort' to drop the connection.
export async function stream(url, body, { headers = {}, onEvent } = {}) {
  const ctl = new AbortController();
  const t0 = now();
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers },
                               body: JSON.stringify({ ...body, stream: true }), signal: ctl.signal });
  const out = { status: r.status, events: [], done: false, tFirst: 0, tEnd: 0, t0, aborted: false };
  if (r.status !== 200) { out.error = await r.text(); return out; }
  const dec = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of r.body) {
      buf += dec.decode(chunk, { stream: true });
      let k;
      while ((k = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, k).trim();
        buf = buf.slice(k + 2);
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6);
        if (data === '[DONE]') { out.done = true; continue; }
        const ev = JSON.parse(data);
        if (!out.tFirst) out.tFirst = now();
        out.events.push(ev);
        if (onEvent && onEvent(ev, out.events.length - 1) === 'abort') { out.aborted = true; ctl.abort(); return out; }
      }
    }
  } catch (e) {
    if (!out.aborted) throw e;
  }
  out.tEnd = now();
  return out;
}

export const streamIds = (s) => s.events.flatMap((e) => (e.choices?.[0]?.token_ids) || []);
export const streamText = (s) => s.events.map((e) => e.choices?.[0]?.delta?.content ?? e.choices?.[0]?.text ?? '').join('');

export function goldenManifest() {
  return JSON.parse(fs.readFileSync(path.join(GOLDEN, 'manifest.json'), 'utf8'));
}

// Deterministic pseudo-random token ids in [0, vocab).
export function randomIds(n, vocab, seed = 1) {
  let x = seed >>> 0 || 1;
  const ids = [];
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    ids.push(x % vocab);
  }
  return ids;
}

export function metric(text, name) {
  const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, (c) => '\\' + c)} ([0-9.eE+-]+)$`, 'm'));
  return m ? +m[1] : NaN;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
}

// Raw bytes to a loopback port; resolves with what came back until the server closed the connection (or
// timeoutMs passed: then timedOut is set). halfClose: shut down our sending side after the bytes (a complete
// request followed by FIN, legal in HTTP/1.1). Returns {status, head, body (Buffer), closed, timedOut, error}.
export function rawRequest(port, bytes, { halfClose = false, timeoutMs = 10000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    let settled = false;
    const finish = (extra) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      sock.destroy();
      const all = Buffer.concat(chunks);
      const k = all.indexOf('\r\n\r\n');
      const head = k >= 0 ? all.subarray(0, k).toString('latin1') : all.toString('latin1');
      const m = head.match(/^HTTP\/1\.[01] (\d{3})/);
      resolve({ status: m ? +m[1] : 0, head, body: k >= 0 ? all.subarray(k + 4) : Buffer.alloc(0), ...extra });
    };
    const t = setTimeout(() => finish({ timedOut: true }), timeoutMs);
    sock.on('connect', () => {
      sock.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1'));
      if (halfClose) sock.end();
    });
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => finish({ closed: true }));
    sock.on('error', (e) => finish({ error: e.code || String(e) }));
  });
}

// A raw response's body, de-chunked if it was sent chunked.
export function rawBody(r) {
  if (!/transfer-encoding: *chunked/i.test(r.head)) return r.body;
  const b = r.body, parts = [];
  for (let i = 0; ;) {
    const e = b.indexOf('\r\n', i);
    if (e < 0) break;
    const n = parseInt(b.subarray(i, e).toString('latin1'), 16);
    if (!n) break;
    parts.push(b.subarray(e + 2, e + 2 + n));
    i = e + 2 + n + 2;
  }
  return Buffer.concat(parts);
}

// The JSON of a raw response body, or null.
export function rawJson(r) {
  try { return JSON.parse(rawBody(r).toString('utf8')); } catch { return null; }
}

// The events of a raw SSE response: {events (parsed JSON), done ([DONE] seen)}.
export function rawEvents(r) {
  const out = { events: [], done: false };
  for (const ev of rawBody(r).toString('utf8').split('\n\n')) {
    if (!ev.startsWith('data: ')) continue;
    if (ev === 'data: [DONE]') out.done = true;
    else try { out.events.push(JSON.parse(ev.slice(6))); } catch { out.events.push(null); }
  }
  return out;
}

// Headless Chromium (playwright-core + Debian's chromium) on a fresh profile, with flags that keep it off the network.
// Returns {browser, page, errors (page errors seen), close()}; close() also removes the profile.
export async function openBrowser() {
  const { chromium } = await import('playwright-core');
  const userDir = fs.mkdtempSync(path.join(TMP, 'chromium-'));
  let browser;
  try {
    browser = await chromium.launchPersistentContext(userDir, {
      executablePath: CHROMIUM, headless: true, timeout: 60000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync'],
    });
  } catch (e) {
    fs.rmSync(userDir, { recursive: true, force: true });
    throw e;
  }
  const page = browser.pages()[0] || await browser.newPage();
  page.setDefaultTimeout(60000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { browser, page, errors, close: async () => { await browser.close(); fs.rmSync(userDir, { recursive: true, force: true }); } };
}
