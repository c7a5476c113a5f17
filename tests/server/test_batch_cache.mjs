// test_batch_cache.mjs — continuous batching (concurrent streams give exactly their solo tokens, a long
// prompt prefilled in chunks while others decode changes nothing, and N streams finish well under N x the
// solo time) and the prefix cache (same output, a reported hit, lower time to first token).
import { check, done, startServer, stopServer, post, get, stream, streamIds, goldenManifest, randomIds, metric, now,
         GOLDEN, TEXT_MODEL, SAN } from './lib.mjs';

const man = goldenManifest();
const gens = man.generations.map((g) => ({ prompt: man.prompts.find((p) => p.index === g.prompt_index).input_ids, ids: g.generated_ids }));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// ------------------------------------------------------------------ golden: exact tokens under batching
{
  const srv = await startServer(['-m', GOLDEN, '-np', '4', '-c', '1024', '-t', '1', '--cache-mb', '0']);
  try {
    const longPrompt = randomIds(700, 512, 7);
    const solo = await post(srv.url + '/v1/completions', { prompt: longPrompt, max_tokens: 6, temperature: 0 });
    // golden streams running while a 700-token prompt joins (prefilled in 256-token chunks between decode steps)
    const jobs = [...gens, gens[0]].map((g) => stream(srv.url + '/v1/completions', { prompt: g.prompt, max_tokens: g.ids.length, temperature: 0 }));
    const lj = post(srv.url + '/v1/completions', { prompt: longPrompt, max_tokens: 6, temperature: 0 });
    const outs = await Promise.all(jobs);
    const lr = await lj;
    outs.forEach((o, i) => check(o.done && same(streamIds(o), [...gens, gens[0]][i].ids), `concurrent golden stream ${i} = golden`, streamIds(o)));
    check(same(lr.json.choices[0].token_ids, solo.json.choices[0].token_ids), 'long prompt: batched = solo', lr.json.choices[0].token_ids);
    // 8 sampled requests (temperature 0.9, fixed seeds) concurrently = one at a time
    const reqs = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ prompt: randomIds(5 + i, 512, 100 + i), max_tokens: 20, temperature: 0.9, top_p: 0.9, seed: 1000 + i }));
    const seq = [];
    for (const q of reqs) seq.push((await post(srv.url + '/v1/completions', q)).json.choices[0].token_ids);
    const par = await Promise.all(reqs.map((q) => post(srv.url + '/v1/completions', q)));
    check(par.every((p, i) => same(p.json.choices[0].token_ids, seq[i])), 'seeded sampling: concurrent = sequential');
  } finally {
    check(await stopServer(srv) === 0, 'golden batching server exits 0');
  }
}

// ------------------------------------------------------------------ speed of batching, prefix cache (text model)
const MODEL = TEXT_MODEL || GOLDEN;
const V = TEXT_MODEL ? 200064 : 512;
{
  const srv = await startServer(['-m', MODEL, '-np', '4', '-c', '4096', '-t', '1', '--cache-mb', '256']);
  try {
    const N = 4, T = SAN ? 16 : 48;
    const reqs = [0, 1, 2, 3].map((i) => ({ prompt: randomIds(8, V, 50 + i), max_tokens: T, temperature: 0, ignore_eos: true }));
    await post(srv.url + '/v1/completions', { prompt: [1, 2, 3], max_tokens: 4 });   // warm the weights
    // timings on a shared 2-core machine are noisy: measure up to 3 times, pass if any attempt shows the speedup
    let ok = false, exact = true;
    for (let attempt = 0; attempt < 3 && !ok; attempt++) {
      const solo = [];
      let tSolo = 0;
      for (const q of reqs) {
        const t0 = now();
        const s = await stream(srv.url + '/v1/completions', q);
        tSolo += now() - t0;
        solo.push(streamIds(s));
      }
      const t0 = now();
      const par = await Promise.all(reqs.map((q) => stream(srv.url + '/v1/completions', q)));
      const tPar = now() - t0;
      exact &&= par.every((p, i) => same(streamIds(p), solo[i]) && streamIds(p).length === T);
      console.log(`batching: ${N} streams x ${T} tokens: one at a time ${tSolo.toFixed(0)} ms, together ${tPar.toFixed(0)} ms (${(tSolo / tPar).toFixed(2)}x)`);
      // Optimised build: batching must amortise the weight reads (~3x measured; require 4 streams in < 0.75x
      // the solo total). Under ASan+UBSan every instrumented load makes each token compute-bound, so batching
      // saves much less (1.2-1.3x measured): there the check only requires that the streams really run
      // concurrently (< 0.9x; fully serialised decoding would be ~1.0x).
      ok = tPar < (SAN ? 0.9 : 0.75) * tSolo;
    }
    check(exact, 'text model: concurrent streams = solo streams');
    check(ok, `${N} concurrent streams take well under ${N} x the solo time`);

    // prefix cache: a long prompt, then the same prompt again, then a follow-up turn
    let a, b, ttA = 0, ttB = 0, P, cached;
    for (let attempt = 0; attempt < 3 && !(ttA && ttB < 0.6 * ttA); attempt++) {
      P = randomIds(SAN ? 600 : 1100, V, 99 + attempt);   // a fresh prompt each attempt: the first must miss
      const block = 256;
      cached = Math.floor((P.length - 1) / block) * block;
      a = await post(srv.url + '/v1/completions', { prompt: P, max_tokens: 8, temperature: 0 });
      b = await post(srv.url + '/v1/completions', { prompt: P, max_tokens: 8, temperature: 0 });
      check(a.status === 200 && b.status === 200, 'cache requests ok', a.text.slice(0, 300));
      check(a.json.timings.cache_n === 0 && !a.json.timings.cache_hit, 'first request: cache miss', a.json.timings);
      check(b.json.timings.cache_hit && b.json.timings.cache_n === cached && b.json.usage.prompt_tokens_details.cached_tokens === cached,
            `second request: hit of ${cached} tokens`, b.json.timings);
      check(same(a.json.choices[0].token_ids, b.json.choices[0].token_ids), 'same output with and without the cache');
      ttA = a.json.timings.ttft_ms;
      ttB = b.json.timings.ttft_ms;
      console.log(`prefix cache: ${P.length}-token prompt, time to first token ${ttA.toFixed(1)} ms without a hit, ${ttB.toFixed(1)} ms with a ${cached}-token hit`);
    }
    check(ttB < 0.6 * ttA, 'time to first token drops with the hit', { ttA, ttB });
    // next turn: the previous prompt + its answer + more: restored at the end of the previous turn
    const turn2 = [...P, ...a.json.choices[0].token_ids, ...randomIds(20, V, 5)];
    const c = await post(srv.url + '/v1/completions', { prompt: turn2, max_tokens: 4, temperature: 0 });
    check(c.json.timings.cache_n === P.length + 7, 'follow-up turn resumes at the end of the previous one', c.json.timings);
    const m = await get(srv.url + '/metrics');
    check(metric(m.text, 'minimax_cache_hits_total') >= 2 && metric(m.text, 'minimax_cache_tokens_saved_total') >= cached + P.length &&
          metric(m.text, 'minimax_cache_bytes') > 0, 'metrics report cache hits and tokens saved');
  } finally {
    check(await stopServer(srv) === 0, 'text batching server exits 0', srv.log().slice(-1500));
  }
}

// ------------------------------------------------------------------ the cache budget evicts (LRU) and stays under it
{
  const srv = await startServer(['-m', GOLDEN, '-np', '2', '-c', '2048', '-t', '1', '--cache-mb', '1']);
  try {
    for (let i = 0; i < 6; i++) await post(srv.url + '/v1/completions', { prompt: randomIds(1300, 512, 300 + i), max_tokens: 2 });
    const m = await get(srv.url + '/metrics');
    check(metric(m.text, 'minimax_cache_bytes') <= 1 << 20 && metric(m.text, 'minimax_cache_evictions_total') > 0,
          'cache stays within --cache-mb and evicts', m.text.match(/minimax_cache_(bytes|evictions_total) .*/g));
  } finally {
    check(await stopServer(srv) === 0, 'eviction server exits 0');
  }
}
done();
