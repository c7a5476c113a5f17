// serve_pipeline.mjs — what micro-batching a server step does on a pipeline (not part of the test suite): starts
// `minimax serve` as one process, then under mpirun on N ranks with steps not cut (--micro-batches 1) and cut into
// one micro-batch per rank (the default), runs the same load on each (C concurrent completions of P random prompt
// tokens and G generated tokens each, greedy, prefix cache off), and prints per server: wall seconds, generated
// tokens/s, prompt+generated tokens/s, and the share of its time each rank waited for the others (MM_PP_REPORT).
//
//   node bench/serve_pipeline.mjs --model DIR [--ranks 2] [--clients 4] [--prompt 256] [--gen 32] [--rounds 3] [-t 1]
//
// The rounds interleave the servers (one, not cut, cut, one, ...) and each figure is the median of its rounds.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const argv = process.argv.slice(2);
const opt = (name, def) => { const i = argv.indexOf(name); return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def; };
process.env.MM_BIN ||= path.resolve(root, opt('--bin', 'build/minimax'));
const { startServer, stopServer, post } = await import('../tests/server/lib.mjs');

const model = opt('--model', null);
if (!model) { console.error('usage: node bench/serve_pipeline.mjs --model DIR [--ranks N] [--clients C] [--prompt P] [--gen G] [--rounds R] [-t T]'); process.exit(2); }
const ranks = +opt('--ranks', 2), clients = +opt('--clients', 4), plen = +opt('--prompt', 256), gen = +opt('--gen', 32);
const rounds = +opt('--rounds', 3), threads = opt('-t', '1');
if (process.getuid?.() === 0) Object.assign(process.env, { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' });
process.env.MM_PP_REPORT = '1';
const vocab = 500;   /* prompt ids below every model's vocabulary size */

let seed = 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
const prompts = Array.from({ length: clients }, () => Array.from({ length: plen }, () => 1 + Math.floor(rnd() * (vocab - 1))));

const base = ['-m', model, '-np', String(clients), '-c', String(plen + gen + 16), '-t', threads, '--cache-mb', '0'];
const setups = [
  { name: '1 process', args: base, launcher: null },
  { name: `${ranks} ranks, steps not cut`, args: [...base, '--micro-batches', '1'], launcher: ['mpirun', '--oversubscribe', '-np', String(ranks)] },
  { name: `${ranks} ranks, a micro-batch per rank`, args: base, launcher: ['mpirun', '--oversubscribe', '-np', String(ranks)] },
];
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const res = setups.map(() => ({ wall: [], waits: [] }));
for (let r = 0; r < rounds; r++)
  for (let k = 0; k < setups.length; k++) {
    const srv = await startServer(setups[k].args, { launcher: setups[k].launcher });
    const t0 = performance.now();
    const out = await Promise.all(prompts.map((p) => post(srv.url + '/v1/completions', { prompt: p, max_tokens: gen, temperature: 0, ignore_eos: true })));
    const wall = (performance.now() - t0) / 1000;
    await stopServer(srv);
    const bad = out.filter((o) => o.status !== 200 || o.json.usage?.completion_tokens !== gen).length;
    if (bad) { console.error(`${setups[k].name}: ${bad} requests failed or stopped early`, out[0].json); process.exit(1); }
    res[k].wall.push(wall);
    res[k].waits.push([...srv.log().matchAll(/rank (\d+) of \d+: waited for other ranks [\d.]+ s of [\d.]+ s \(([\d.]+)%\)/g)].map((m) => [+m[1], +m[2]]));
  }
console.log(`serve_pipeline: ${model}, ${clients} concurrent completions of ${plen} prompt + ${gen} generated tokens, -t ${threads} per process, ${rounds} rounds (medians)`);
for (let k = 0; k < setups.length; k++) {
  const w = median(res[k].wall);
  const waits = setups[k].launcher ? Array.from({ length: ranks }, (_, q) => `rank ${q} ${median(res[k].waits.map((x) => x.find((y) => y[0] === q)?.[1] ?? NaN)).toFixed(0)}%`).join(', ') : '';
  console.log(`  ${setups[k].name.padEnd(34)} ${w.toFixed(2)} s (${Math.min(...res[k].wall).toFixed(2)}-${Math.max(...res[k].wall).toFixed(2)})  ` +
              `${(clients * gen / w).toFixed(1)} generated tok/s  ${(clients * (plen + gen) / w).toFixed(1)} tok/s in all` + (waits ? `  waited: ${waits}` : ''));
}
