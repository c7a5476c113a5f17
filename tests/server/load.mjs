// load.mjs — a mixed client load on `minimax serve` (loopback): N concurrent clients, each sending one
// request after another drawn from a fixed mix (chat, streamed chat, completions from text and from ids,
// streams and requests the client drops midway, malformed and hostile requests), for a number of requests
// or seconds. Every request must end in one of: a full answer, a clear error (the status the mix expects,
// or 503 busy with Retry-After), or a disconnect the client made; anything else counts as lost (no answer,
// a truncated stream, an unexpected status). Used by test_load.mjs (short) and bench/server_load.mjs (long).
import net from 'node:net';
import fs from 'node:fs';
import { get, post, stream, percentile, now, sleep, metric } from './lib.mjs';

// The mix: name, weight, and what a request does. Each returns {outcome, status, detail} where outcome is
// 'ok', 'busy', 'expected_error', 'dropped' (the client disconnected on purpose) or 'lost'.
function mix(url, port, c, k) {
  const msgs = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: `Client ${c} asks question ${k}: what is ${c} + ${k}?` }];
  const raw = (bytes, want) => async () => {
    const r = await rawOnce(port, bytes);
    return r.status === want ? { outcome: 'expected_error', status: r.status } : { outcome: 'lost', status: r.status, detail: r.error || r.head?.slice(0, 80) };
  };
  const answer = (r, test) => {
    if (r.status === 503 && r.headers?.get?.('retry-after')) return { outcome: 'busy', status: 503 };
    if (r.status === 200 && test(r)) return { outcome: 'ok', status: 200 };
    return { outcome: 'lost', status: r.status, detail: (r.text || r.error || '').slice(0, 120) };
  };
  return [
    ['chat', 20, async () => answer(await post(url + '/v1/chat/completions', { messages: msgs, max_tokens: 8 + (k % 8) }),
                                    (r) => r.json?.choices?.[0]?.message?.role === 'assistant' && r.json.usage.completion_tokens >= 1)],
    ['chat_stream', 20, async () => {
      const s = await streamOnce(url + '/v1/chat/completions', { messages: msgs, max_tokens: 12, stream: true, stream_options: { include_usage: true } });
      if (s.status === 503) return { outcome: 'busy', status: 503 };
      return s.status === 200 && s.done && s.events.some((e) => e.usage) ? { outcome: 'ok', status: 200 } : { outcome: 'lost', status: s.status, detail: s.error };
    }],
    ['completion_text', 12, async () => answer(await post(url + '/v1/completions', { prompt: `Once upon a time ${c}`, max_tokens: 6, temperature: 0.8, seed: k }),
                                               (r) => typeof r.json?.choices?.[0]?.text === 'string')],
    ['completion_ids', 12, async () => answer(await post(url + '/v1/completions', { prompt: [200019, 1503, 373 + (c % 50), 264], max_tokens: 5, ignore_eos: true }),
                                              (r) => r.json?.choices?.[0]?.token_ids?.length === 5)],
    ['stream_dropped', 8, async () => {
      const s = await streamOnce(url + '/v1/completions', { prompt: 'Tell me a long story', max_tokens: 200, ignore_eos: true, stream: true }, 2);
      if (s.status === 503) return { outcome: 'busy', status: 503 };
      return s.aborted ? { outcome: 'dropped', status: 200 } : { outcome: 'lost', status: s.status, detail: s.error || 'stream ended before the drop' };
    }],
    ['request_dropped', 4, async () => {
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(), 30);
      try {
        const r = await fetch(url + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, signal: ctl.signal,
                                                             body: JSON.stringify({ messages: msgs, max_tokens: 64, ignore_eos: true }) });
        await r.text();
        return r.status === 200 || r.status === 503 ? { outcome: r.status === 200 ? 'ok' : 'busy', status: r.status } : { outcome: 'lost', status: r.status };
      } catch { return { outcome: 'dropped', status: 0 }; }
    }],
    ['tokenize', 6, async () => answer(await post(url + '/tokenize', { content: `hello <end_of_sentence> ${k}` }), (r) => r.json?.tokens?.length > 3)],
    ['bad_json', 4, async () => { const r = await post(url + '/v1/chat/completions', '{"messages": [');
                                  return r.status === 400 ? { outcome: 'expected_error', status: 400 } : { outcome: 'lost', status: r.status }; }],
    ['bad_field', 3, async () => { const r = await post(url + '/v1/completions', { prompt: [1], temperature: 'hot' });
                                   return r.status === 400 ? { outcome: 'expected_error', status: 400 } : { outcome: 'lost', status: r.status }; }],
    ['not_found', 3, raw(`GET /%ff/${c} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 404)],
    ['too_large', 3, raw('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n', 413)],
    ['bad_framing', 3, raw('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400)],
    ['slow_header', 2, async () => {   // a head that never completes: the server closes it (header timeout)
      const r = await rawOnce(port, 'GET /health HTTP/1.1\r\nHost: x\r\n', 20000);
      return r.closed ? { outcome: 'expected_error', status: 0 } : { outcome: 'lost', status: r.status, detail: r.error || 'not closed' };
    }],
  ];
}

function rawOnce(port, bytes, timeoutMs = 30000) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    let done = false;
    const fin = (x) => { if (done) return; done = true; clearTimeout(t); s.destroy(); const all = Buffer.concat(chunks).toString('latin1');
                         const m = all.match(/^HTTP\/1\.[01] (\d{3})/); resolve({ status: m ? +m[1] : 0, head: all.slice(0, 200), ...x }); };
    const t = setTimeout(() => fin({ error: 'timeout' }), timeoutMs);
    s.on('connect', () => s.write(bytes, 'latin1'));
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => fin({ closed: true }));
    s.on('error', (e) => fin({ error: e.code || String(e), closed: e.code === 'ECONNRESET' }));
  });
}

// A stream read to its end, or dropped after dropAfter events; a network error is returned, not thrown.
async function streamOnce(url, body, dropAfter = 0) {
  try {
    return await stream(url, body, { onEvent: (ev, i) => (dropAfter && i + 1 >= dropAfter ? 'abort' : undefined) });
  } catch (e) {
    return { status: 0, events: [], done: false, aborted: false, error: String(e) };
  }
}

const rssOf = (pid) => {
  try { return +fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1] / 1024; } catch { return NaN; }
};

// Runs the load. opts: {url, port, pid (for RSS), clients, requests (per client) | seconds, onTick(stats)}.
// Returns {requests, byOutcome, byKind: {kind: {outcome: n}}, lost: [samples], p50, p99 (ms, answered requests),
// wall, rss: [[t s, RSS MB, prefix-cache MB]...], healthy}.
export async function runLoad({ url, port, pid, clients, requests = 0, seconds = 0, rssEverySec = 10, log = () => {} }) {
  const st = { requests: 0, byOutcome: {}, byKind: {}, lostSamples: [], lat: [], rss: [] };
  const t0 = now();
  const until = seconds ? t0 + seconds * 1000 : Infinity;
  let stop = false;
  const cacheMB = async () => { try { return +(metric((await get(url + '/metrics')).text, 'minimax_cache_bytes') / 1048576).toFixed(1); } catch { return NaN; } };
  const sampler = pid ? (async () => {
    while (!stop) {
      st.rss.push([+((now() - t0) / 1000).toFixed(1), +rssOf(pid).toFixed(1), await cacheMB()]);
      for (let i = 0; i < rssEverySec * 10 && !stop; i++) await sleep(100);
    }
  })() : null;
  await Promise.all([...Array(clients).keys()].map(async (c) => {
    for (let k = 0; (requests ? k < requests : true) && now() < until; k++) {
      const m = mix(url, port, c, k);
      const total = m.reduce((a, x) => a + x[1], 0);
      let pick = (c * 7919 + k * 104729) % total, i = 0;
      while (pick >= m[i][1]) pick -= m[i++][1];
      const [kind, , run] = m[i];
      const t = now();
      let r;
      try { r = await run(); } catch (e) { r = { outcome: 'lost', status: 0, detail: String(e) }; }
      st.requests++;
      st.byOutcome[r.outcome] = (st.byOutcome[r.outcome] || 0) + 1;
      (st.byKind[kind] ||= {})[r.outcome] = (st.byKind[kind][r.outcome] || 0) + 1;
      if (r.outcome === 'ok') st.lat.push(now() - t);
      if (r.outcome === 'lost' && st.lostSamples.length < 10) st.lostSamples.push({ kind, ...r });
    }
  }));
  stop = true;
  await sampler;
  const wall = (now() - t0) / 1000;
  // afterwards: idle, healthy, nothing running
  let healthy = false;
  for (let i = 0; i < 100 && !healthy; i++) {
    try {
      const h = await get(url + '/health');
      healthy = h.status === 200 && h.json.slots_processing === 0 && h.json.requests_queued === 0;
    } catch { /* retry */ }
    if (!healthy) await sleep(200);
  }
  const m = await get(url + '/metrics');
  if (pid) st.rss.push([+wall.toFixed(1), +rssOf(pid).toFixed(1), +(metric(m.text, 'minimax_cache_bytes') / 1048576).toFixed(1)]);
  log(`${clients} clients: ${st.requests} requests in ${wall.toFixed(1)} s`);
  return { requests: st.requests, byOutcome: st.byOutcome, byKind: st.byKind, lost: st.byOutcome.lost || 0, lostSamples: st.lostSamples,
           p50: percentile(st.lat, 50), p99: percentile(st.lat, 99), wall, rss: st.rss, healthy,
           running: metric(m.text, 'minimax_requests_running'), queued: metric(m.text, 'minimax_requests_queued') };
}
