// test_mpi.mjs — `minimax serve` under mpirun (a pipeline of 2 and 3 ranks, and 2 expert-parallel ranks) answers exactly as one process does,
// through the official `openai` client: the golden model's completions (token ids), concurrent requests decoded
// together, long prompts whose continuations restore prefixes from the cache (each rank keeps its part of every
// snapshot under rank 0's id), chat with the real tokenizer after 32 s idle with MM_DIST_TIMEOUT=30 (rank 0's
// keep-alive), and a clean SIGTERM shutdown of the whole job.
// Run by tests/cli_mpi.sh (needs mpirun; as root the OMPI_ALLOW_RUN_AS_ROOT* variables set there).
import OpenAI from 'openai';
import { check, done, startServer, stopServer, get, post, sleep, goldenManifest, randomIds, metric, GOLDEN, TEXT_MODEL } from './lib.mjs';

const mpirun = (n) => ['mpirun', '--oversubscribe', '-np', String(n)];
const man = goldenManifest();
const gens = man.generations.map((g) => man.prompts.find((p) => p.index === g.prompt_index).input_ids);

// The answers of one server to a fixed script of requests (token ids of each), and its cache hits.
async function script(srv, model) {
  const client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0 });
  const out = [];
  for (const p of gens) {
    const r = await client.completions.create({ model, prompt: p, max_tokens: 6, temperature: 0 });
    out.push(r.choices[0].token_ids);
  }
  // four long prompts at once (decoded together), then each continued: the continuations hit the prefix cache
  const longs = [0, 1, 2, 3].map((i) => randomIds(300 + 37 * i, 512, i + 7));
  const first = await Promise.all(longs.map((p) => client.completions.create({ model, prompt: p, max_tokens: 5, temperature: 0 })));
  out.push(...first.map((r) => r.choices[0].token_ids));
  const second = await Promise.all(longs.map((p, i) => client.completions.create({
    model, prompt: [...p, ...first[i].choices[0].token_ids, 17, 23], max_tokens: 5, temperature: 0 })));
  out.push(...second.map((r) => r.choices[0].token_ids));
  // sampled with a seed: same draws on both
  const s = await client.completions.create({ model, prompt: gens[0], max_tokens: 8, temperature: 0.9, top_k: 20, seed: 5 });
  out.push(s.choices[0].token_ids);
  const m = await get(srv.url + '/metrics');
  return { out, hits: metric(m.text, 'minimax_cache_hits_total') };
}

async function chat(srv) {
  const client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0 });
  const msgs = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Name three colours.' }];
  const a = await client.chat.completions.create({ model: 'm', messages: msgs, max_tokens: 12, temperature: 0 });
  msgs.push({ role: 'assistant', content: a.choices[0].message.content }, { role: 'user', content: 'And three more?' });
  const b = await client.chat.completions.create({ model: 'm', messages: msgs, max_tokens: 12, temperature: 0 });
  return [a.choices[0].message.content, b.choices[0].message.content, b.usage.prompt_tokens_details?.cached_tokens ?? 0];
}

const args = ['-m', GOLDEN, '-np', '4', '-c', '1024', '-t', '1', '--cache-mb', '64'];
const one = await startServer(args);
const ref = await script(one, 'a_small_mixed');
check(await stopServer(one) === 0, 'single-process server exit');
for (const [n, split] of [[2, null], [3, '2,1,1'], [2, 'ep']]) {
  const extra = split === 'ep' ? ['--expert-parallel'] : split ? ['--layer-split', split] : [];
  const srv = await startServer([...args, ...extra], { launcher: mpirun(n) });
  try {
    const got = await script(srv, 'a_small_mixed');
    check(JSON.stringify(got.out) === JSON.stringify(ref.out), `${n} ranks: every answer equals one process's`, { got: got.out, want: ref.out });
    check(got.hits >= 4 && got.hits === ref.hits, `${n} ranks: the prefix cache hits (${got.hits}, one process ${ref.hits})`);
    check(/rank 1 of \d .*layers/.test(srv.log()), `${n} ranks: start-up lines`, srv.log());
    // a pipeline cuts each step into one micro-batch per rank (the answers above came through them)
    const micro = srv.log().match(/pipeline of (\d+) ranks: .* up to (\d+) micro-batches/);
    check(split === 'ep' ? micro === null : micro !== null && micro[1] === String(n) && micro[2] === String(n),
      `${n} ranks${split === 'ep' ? ', expert parallel: steps not cut' : ': steps cut into a micro-batch per rank'}`, micro);
    // final hidden states stay on the last rank: /v1/embeddings is refused, and the job goes on
    const e = await post(srv.url + '/v1/embeddings', { input: [[1, 2, 3]] });
    check(e.status === 400 && /split over \d ranks/.test(e.json?.error?.message ?? ''), `${n} ranks: /v1/embeddings refused`, e);
  } finally {
    // mpirun forwards SIGTERM to every rank and then reports a non-zero status of its own: what counts is that the
    // job ends, rank 0 drains and stops, and no rank reports an error
    await stopServer(srv);
    check(/minimax serve: stopped/.test(srv.log()) && !/rank \d+ of \d+: .*(waiting|error|decode)/.test(srv.log()),
          `${n} ranks: SIGTERM ends the job cleanly`, srv.log());
  }
}

if (TEXT_MODEL) {
  const targs = ['-m', TEXT_MODEL, '-np', '2', '-c', '2048', '-t', '1'];
  const s1 = await startServer(targs);
  const want = await chat(s1);
  await stopServer(s1);
  // waits are bounded by MM_DIST_TIMEOUT (30 s here: rank 0's start-up after the model, the tokenizer above all, must
  // fit in it, and under the sanitizers it once took over 15 s): 32 s idle, in which rank 0 keeps the others alive
  // with no-op commands
  process.env.MM_DIST_TIMEOUT = '30';
  const s2 = await startServer(targs, { launcher: mpirun(2) }).catch((e) => { check(false, `2-rank chat server: ${e.message}`); return null; });
  if (!s2) done();
  try {
    await sleep(32000);
    // a job that died in the idle time refuses the connection: say so with the ranks' log, not a bare exception
    const got = await chat(s2).catch((e) => { check(false, `chat after 32 s idle: ${e.message}`, s2.log()); return null; });
    if (got) {
      check(JSON.stringify(got) === JSON.stringify(want), 'chat with the tokenizer: 2 ranks = one process', { got, want });
      check(got[2] > 0, 'second turn restored the first from the cache', got);
    }
  } finally {
    await stopServer(s2);
    check(/minimax serve: stopped/.test(s2.log()), 'chat server stopped', s2.log());
  }
} else {
  check(false, 'MM_SERVER_TEXT_MODEL is not set (tests/cli_mpi.sh sets it)');
}
done();
