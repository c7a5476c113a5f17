// server_load.mjs — load and soak figures for `minimax serve` on loopback (not part of the test suite; its
// short form is tests/server/test_load.mjs). Starts a server on a small random-weight text model with the real
// tokenizer, then runs tests/server/load.mjs's mix (chat, streamed chat, completions, dropped streams and
// requests, malformed and hostile requests) with each client count in turn, and optionally a soak.
//
//   node bench/server_load.mjs                         64 and 256 clients, 60 s each
//   node bench/server_load.mjs --clients 64 --seconds 20
//   node bench/server_load.mjs --clients 64 --soak 600  then a 10-minute soak with 64 clients (RSS every 10 s)
//   options: --model DIR (default: written once to /tmp/mm-load-model), --bin build/minimax, --json FILE
//
// Prints per run: requests, outcomes (ok, busy 503, expected errors, client drops, lost), p50/p99 latency of
// answered requests, and the server's RSS at the start and end (and its maximum; also minus the prefix cache's
// bytes from /metrics, which grow up to --cache-mb by design) with the health afterwards.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((a, x, i, all) => (x.startsWith('--') ? [...a, [x.slice(2), all[i + 1] ?? '']] : a), []));
process.env.MM_BIN ||= path.resolve(root, args.bin || 'build/minimax');
const shared = process.env.MM_SHARED || path.resolve(root, '../shared');
const { startServer, stopServer } = await import('../tests/server/lib.mjs');
const { runLoad } = await import('../tests/server/load.mjs');

let model = args.model;
if (!model) {
  model = '/tmp/mm-load-model';
  if (!fs.existsSync(path.join(model, 'tokenizer.json'))) {
    execFileSync(process.env.MM_BIN, ['mkmodel', '-o', model, '--preset', 'tiny', '--hidden', '128', '--layers', '4', '--heads', '4', '--kv-heads', '2',
                                      '--head-dim', '32', '--ffn', '128', '--experts', '4', '--force'], { stdio: 'inherit' });
    fs.copyFileSync(path.join(shared, 'tokenizer/tokenizer.json'), path.join(model, 'tokenizer.json'));
  }
}
const clientsList = (args.clients || '64,256').split(',').map(Number);
const seconds = +(args.seconds || 60);
const srvArgs = ['-m', model, '-np', '8', '--queue', '64', '-c', '1024', '-t', '2', '--cache-mb', '256', '--max-conns', '512'];   // default timeouts
const results = [];

const fmt = (r, label) => {
  const o = r.byOutcome;
  const rss = r.rss.map((x) => x[1]), net = r.rss.map((x) => x[1] - x[2]);
  return `${label}: ${r.requests} requests in ${r.wall.toFixed(0)} s: ok ${o.ok || 0}, busy(503) ${o.busy || 0}, expected errors ${o.expected_error || 0}, ` +
         `client drops ${o.dropped || 0}, lost ${r.lost}; latency p50 ${r.p50.toFixed(0)} ms p99 ${r.p99.toFixed(0)} ms; ` +
         `RSS ${rss[0]?.toFixed(0)} -> ${rss[rss.length - 1]?.toFixed(0)} MB (max ${Math.max(...rss).toFixed(0)}), ` +
         `without the prefix cache ${net[0]?.toFixed(0)} -> ${net[net.length - 1]?.toFixed(0)} MB; healthy after: ${r.healthy && r.running === 0 && r.queued === 0}`;
};

const srv = await startServer(srvArgs);
console.log(`server: ${process.env.MM_BIN} serve ${srvArgs.join(' ')} (pid ${srv.proc.pid})`);
try {
  for (const n of clientsList) {
    const r = await runLoad({ url: srv.url, port: srv.port, pid: srv.proc.pid, clients: n, seconds, rssEverySec: 5 });
    console.log(fmt(r, `${n} clients`));
    for (const [k, v] of Object.entries(r.byKind)) console.log(`    ${k.padEnd(16)} ${JSON.stringify(v)}`);
    console.log('    RSS (s: MB, of which prefix cache MB): ' + r.rss.map((x) => `${x[0]}:${x[1]}(${x[2]})`).join(' '));
    if (r.lost) console.log('    lost samples:', JSON.stringify(r.lostSamples));
    results.push({ clients: n, seconds, ...r });
  }
  if (args.soak) {
    const n = clientsList[0];
    const r = await runLoad({ url: srv.url, port: srv.port, pid: srv.proc.pid, clients: n, seconds: +args.soak, rssEverySec: 10 });
    console.log(fmt(r, `soak ${args.soak} s, ${n} clients`));
    for (const [k, v] of Object.entries(r.byKind)) console.log(`    ${k.padEnd(16)} ${JSON.stringify(v)}`);
    console.log('    RSS (s: MB, of which prefix cache MB): ' + r.rss.map((x) => `${x[0]}:${x[1]}(${x[2]})`).join(' '));
    if (r.lost) console.log('    lost samples:', JSON.stringify(r.lostSamples));
    results.push({ soak: +args.soak, clients: n, ...r });
  }
} finally {
  const code = await stopServer(srv);
  console.log(`server exit code ${code}`);
}
if (args.json) fs.writeFileSync(args.json, JSON.stringify(results, null, 1));
process.exit(results.every((r) => r.lost === 0 && r.healthy) ? 0 : 1);
