// test_load.mjs — many concurrent clients on the small golden model: every request completes with the
// right token count or gets a clear 503 (queue full, with Retry-After); some clients drop their stream
// midway; afterwards the server is idle, healthy and still exact. Prints request count, errors, p50/p99.
import { check, done, startServer, stopServer, post, get, stream, streamIds, goldenManifest, randomIds, metric, percentile, now, sleep,
         GOLDEN, SAN, TEXT_MODEL } from './lib.mjs';
import { runLoad } from './load.mjs';

// under the sanitizers the forward pass is ~20x slower: same 64 clients, fewer and shorter requests
const CLIENTS = 64, PER_CLIENT = SAN ? 1 : 4, MAX_PROMPT = SAN ? 100 : 300, MAX_GEN = SAN ? 16 : 32;
const srv = await startServer(['-m', GOLDEN, '-np', '8', '--queue', '48', '-c', '512', '-t', '1', '--cache-mb', '32']);
const lat = [];
let ok = 0, busy = 0, bad = 0, dropped = 0;
const badSamples = [];
try {
  const t0 = now();
  await Promise.all([...Array(CLIENTS).keys()].map(async (c) => {
    for (let k = 0; k < PER_CLIENT; k++) {
      const n = 1 + ((c * 7 + k * 13) % MAX_PROMPT), maxTok = 1 + ((c + k) % MAX_GEN);
      const body = { prompt: randomIds(n, 512, c * 100 + k + 1), max_tokens: maxTok, temperature: 0.7, seed: c };
      const t = now();
      try {
        if ((c + k) % 2) {
          const drop = (c * PER_CLIENT + k) % 10 === 3 || (c * PER_CLIENT + k) % 10 === 7;
          const s = await stream(srv.url + '/v1/completions', body, { onEvent: (ev, i) => (drop && i >= 1 ? 'abort' : undefined) });
          if (s.status === 503) busy++;
          else if (s.aborted) dropped++;
          else if (s.status === 200 && s.done && streamIds(s).length === maxTok) { ok++; lat.push(now() - t); }
          else { bad++; badSamples.push({ status: s.status, n: streamIds(s).length, maxTok, err: s.error }); }
        } else {
          const r = await post(srv.url + '/v1/completions', body);
          if (r.status === 503 && r.json?.error?.message && r.headers.get('retry-after')) busy++;
          else if (r.status === 200 && r.json.usage.completion_tokens === maxTok) { ok++; lat.push(now() - t); }
          else { bad++; badSamples.push({ status: r.status, text: r.text.slice(0, 200) }); }
        }
      } catch (e) { bad++; badSamples.push(String(e)); }
    }
  }));
  const wall = now() - t0;
  const total = CLIENTS * PER_CLIENT;
  console.log(`load: ${CLIENTS} clients x ${PER_CLIENT} = ${total} requests in ${(wall / 1000).toFixed(1)} s: ${ok} ok, ${busy} busy (503), ` +
              `${dropped} dropped by the client, ${bad} errors; latency p50 ${percentile(lat, 50).toFixed(0)} ms, p99 ${percentile(lat, 99).toFixed(0)} ms`);
  check(bad === 0, 'every request completed or got a clear 503', badSamples.slice(0, 5));
  check(ok + busy + dropped === total && ok >= total / 2, 'most requests served', { ok, busy, dropped });
  let idle = false;
  for (let i = 0; i < 100 && !idle; i++) {
    const h = await get(srv.url + '/health');
    idle = h.status === 200 && h.json.slots_processing === 0 && h.json.requests_queued === 0;
    if (!idle) await sleep(100);
  }
  check(idle, 'server idle and healthy after the load');
  const m = await get(srv.url + '/metrics');
  check(metric(m.text, 'minimax_requests_running') === 0 && metric(m.text, 'minimax_requests_queued') === 0, 'metrics: nothing left running');
  const man = goldenManifest();
  const g = man.generations[0];
  const r = await post(srv.url + '/v1/completions', { prompt: man.prompts.find((p) => p.index === g.prompt_index).input_ids,
                                                      max_tokens: g.generated_ids.length, temperature: 0 });
  check(JSON.stringify(r.json.choices[0].token_ids) === JSON.stringify(g.generated_ids), 'still exact after the load');
} finally {
  check(await stopServer(srv) === 0, 'load server exits 0', srv.log().slice(-2000));
}

// The mixed load of bench/server_load.mjs, short: chat, streams, completions, dropped streams and requests,
// malformed and hostile requests at once; nothing may be lost (every request answered, refused with a clear
// error, or dropped by its client) and the server ends idle and healthy.
if (TEXT_MODEL) {
  const tsrv = await startServer(['-m', TEXT_MODEL, '-np', '4', '--queue', '32', '-c', '1024', '-t', '1', '--cache-mb', '64', '--header-timeout', '2']);
  try {
    const r = await runLoad({ url: tsrv.url, port: tsrv.port, pid: tsrv.proc.pid, clients: SAN ? 12 : 32, requests: 2 });
    console.log(`mixed load: ${r.requests} requests in ${r.wall.toFixed(1)} s: ${JSON.stringify(r.byOutcome)}; p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms`);
    check(r.lost === 0, 'mixed load: nothing lost', r.lostSamples);
    check(r.requests === (SAN ? 24 : 64) && (r.byOutcome.ok || 0) >= r.requests / 4 && r.byOutcome.expected_error >= 1 && r.byOutcome.dropped >= 1,
          'mixed load: every kind of outcome happened', r.byOutcome);
    check(r.healthy && r.running === 0 && r.queued === 0, 'mixed load: idle and healthy afterwards');
  } finally {
    check(await stopServer(tsrv) === 0, 'mixed-load server exits 0', tsrv.log().slice(-2000));
  }
}
done();
