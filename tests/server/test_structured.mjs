// test_structured.mjs — structured output (response_format json_schema / json_object, GBNF 'grammar'),
// logit_bias, reasoning_content (streamed and not), fields refused by name, /v1/embeddings, and /classify on
// the three task-head checkpoints (mkmodel --head), all on random models with the real tokenizer.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { check, done, startServer, stopServer, post, stream, BIN, SHARED, TMP, TEXT_MODEL } from './lib.mjs';

// An independent validator of the schema subset used here.
function valid(v, s) {
  if (s.type) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const ok = types.some((t) => (t === 'integer' ? Number.isInteger(v) : t === 'number' ? typeof v === 'number'
      : t === 'array' ? Array.isArray(v) : t === 'object' ? v !== null && typeof v === 'object' && !Array.isArray(v)
      : t === 'null' ? v === null : typeof v === t));
    if (!ok) return false;
  }
  if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) return false;
  if (typeof v === 'string' && s.maxLength !== undefined && [...v].length > s.maxLength) return false;
  if (Array.isArray(v)) {
    if (s.maxItems !== undefined && v.length > s.maxItems) return false;
    if (s.items && !v.every((x) => valid(x, s.items))) return false;
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const k of s.required || []) if (!(k in v)) return false;
    for (const [k, x] of Object.entries(v)) {
      if (s.properties?.[k]) { if (!valid(x, s.properties[k])) return false; }
      else if (s.additionalProperties === false) return false;
    }
  }
  return true;
}

const schema = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 8 }, n: { type: 'integer' }, ok: { type: 'boolean' },
                tags: { type: 'array', items: { enum: ['x', 'y'] }, maxItems: 2 } },
  required: ['name', 'n', 'ok', 'tags'], additionalProperties: false,
};
const chat = (extra) => ({ model: 'm', messages: [{ role: 'user', content: 'Describe a person as JSON.' }], max_tokens: 300, ...extra });

// ------------------------------------------------------------------ the causal LM
{
  const srv = await startServer(['-m', TEXT_MODEL, '-np', '2', '-c', '1024', '-t', '1', '--cache-mb', '16']);
  const u = srv.url;
  try {
    // json_schema: every answer is complete (all its strings and arrays are bounded) and validates
    for (let seed = 1; seed <= 6; seed++) {
      const r = await post(u + '/v1/chat/completions', chat({ temperature: 1.0, seed,
        response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } } }));
      const content = r.json?.choices?.[0]?.message?.content;
      let v = null;
      try { v = JSON.parse(content); } catch { /* checked below */ }
      check(r.status === 200 && r.json.choices[0].finish_reason === 'stop' && v !== null && valid(v, schema),
            `json_schema seed ${seed}: the answer validates`, content ?? r.text);
    }
    // streamed: the concatenated deltas validate
    const s = await stream(u + '/v1/chat/completions', chat({ temperature: 1.0, seed: 7,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema } } }));
    const text = s.events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
    let sv = null;
    try { sv = JSON.parse(text); } catch { /* checked below */ }
    check(s.done && sv !== null && valid(sv, schema), 'streamed json_schema answer validates', text);

    // token ids of the closers, for logit_bias
    const tid = async (t) => (await post(u + '/tokenize', { content: t })).json.tokens;
    const [close] = await tid('}');
    const [quote] = await tid('"');
    // json_object: what finishes parses as an object
    let finished = 0;
    for (let seed = 1; seed <= 4; seed++) {
      const r = await post(u + '/v1/chat/completions', chat({ temperature: 1.0, seed, max_tokens: 200,
        response_format: { type: 'json_object' }, logit_bias: { [close]: 20, [quote]: 20 } }));
      const c = r.json?.choices?.[0];
      if (c?.finish_reason !== 'stop') continue;
      finished++;
      let v = null;
      try { v = JSON.parse(c.message.content); } catch { /* checked below */ }
      check(v !== null && typeof v === 'object' && !Array.isArray(v), `json_object seed ${seed} is an object`, c.message.content);
    }
    check(finished >= 1, `json_object: ${finished} of 4 answers finished within 200 tokens`);

    // logit_bias moves the greedy choice
    const base = { model: 'm', prompt: [1, 2, 3, 4], max_tokens: 1, temperature: 0 };
    const t0 = (await post(u + '/v1/completions', base)).json.choices[0].token_ids[0];
    const t1 = (await post(u + '/v1/completions', { ...base, logit_bias: { [t0]: -100 } })).json.choices[0].token_ids[0];
    const t2 = (await post(u + '/v1/completions', { ...base, logit_bias: { 4242: 100 } })).json.choices[0].token_ids[0];
    check(t1 !== t0 && t2 === 4242, 'logit_bias: -100 bans the greedy token, +100 forces one', { t0, t1, t2 });

    // reasoning: a grammar makes the model write a thinking block (its tags built from pieces of tokens)
    const grammar = 'root ::= "<think>" [a-z]{1,6} " " [a-z]{1,6} "</think>" "\\n\\n" [A-Z]{1,5}\n';
    for (let seed = 1; seed <= 3; seed++) {
      const req = chat({ temperature: 1.0, seed, grammar, max_tokens: 60 });
      const raw = (await post(u + '/v1/chat/completions', { ...req, reasoning_format: 'none' })).json.choices[0].message;
      const m = /^<think>(.*)<\/think>\n\n(.*)$/s.exec(raw.content);
      check(m && raw.reasoning_content === undefined, `reasoning none, seed ${seed}: the text untouched`, raw);
      const r = (await post(u + '/v1/chat/completions', req)).json.choices[0].message;
      check(m && r.reasoning_content === m[1] && r.content === m[2], `reasoning split, seed ${seed}`, { r, raw: raw.content });
      const st = await stream(u + '/v1/chat/completions', req);
      const rs = st.events.map((e) => e.choices?.[0]?.delta?.reasoning_content ?? '').join('');
      const cs = st.events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
      check(m && rs === m[1] && cs === m[2], `streamed reasoning split, seed ${seed}`, { rs, cs });
      const sn = await stream(u + '/v1/chat/completions', { ...req, reasoning_format: 'none' });
      check(sn.events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('') === raw.content, `streamed none, seed ${seed}`);
    }

    // refused with 400, naming the field
    const bad = [
      [{ logprobs: true }, 'logprobs'], [{ n: 2 }, "'n'"], [{ presence_penalty: 0.5 }, 'presence_penalty'], [{ foo: 1 }, "'foo'"],
      [{ response_format: { type: 'xml' } }, 'response_format'],
      [{ response_format: { type: 'json_schema', json_schema: { schema: { type: 'string', pattern: 'a+' } } } }, 'pattern'],
      [{ response_format: { type: 'json_object' }, grammar: 'root ::= "a"' }, 'not both'],
      [{ grammar: 'root ::= undefined-rule' }, 'never defined'], [{ grammar: 'root ::= "a' }, 'line 1'],
      [{ logit_bias: { abc: 1 } }, 'logit_bias'], [{ logit_bias: { 5: 300 } }, 'logit_bias'],
      [{ logit_bias: { 99999999: 1 } }, 'not a token id'], [{ reasoning_format: 'auto' }, 'reasoning_format'],
    ];
    for (const [extra, want] of bad) {
      const r = await post(u + '/v1/chat/completions', chat(extra));
      check(r.status === 400 && r.json?.error?.message?.includes(want), `400 naming ${want}`, r.text);
    }

    // embeddings: OpenAI's shape, unit norm, token ids = the same text, base64 = the floats
    const e = await post(u + '/v1/embeddings', { model: 'm', input: ['hello world', 'a second text'] });
    const H = JSON.parse(fs.readFileSync(path.join(TEXT_MODEL, 'config.json'))).hidden_size;
    const norm = (x) => Math.sqrt(x.reduce((a, b) => a + b * b, 0));
    check(e.status === 200 && e.json.object === 'list' && e.json.data.length === 2 && e.json.data[1].index === 1 &&
          e.json.data.every((d) => d.object === 'embedding' && d.embedding.length === H && Math.abs(norm(d.embedding) - 1) < 1e-5) &&
          e.json.usage.prompt_tokens > 0, 'embeddings: shape and unit norm', e.text.slice(0, 300));
    const ids = await tid('hello world');
    const e2 = await post(u + '/v1/embeddings', { input: ids, encoding_format: 'base64' });
    const f = new Float32Array(new Uint8Array(Buffer.from(e2.json.data[0].embedding, 'base64')).buffer);
    check(f.length === H && f.every((x, i) => Math.abs(x - e.json.data[0].embedding[i]) < 1e-6), 'embeddings: ids and base64 agree');
    check(Math.abs(e.json.data[0].embedding.reduce((a, x, i) => a + x * e.json.data[1].embedding[i], 0)) < 0.99999, 'two texts differ');
    for (const [body, want] of [[{}, 'input'], [{ input: 'x', dimensions: 3 }, 'dimensions'], [{ input: [] }, 'input'],
                                [{ input: 'x', pooling: 'mean' }, "'pooling'"], [{ input: [[1, -1]] }, 'not a token id']]) {
      const r = await post(u + '/v1/embeddings', body);
      check(r.status === 400 && r.json?.error?.message?.includes(want), `embeddings 400 naming ${want}`, r.text);
    }
    const rc = await post(u + '/classify', { input: 'x' });
    check(rc.status === 400 && /causal LM/.test(rc.json?.error?.message), '/classify on a causal LM: 400', rc.text);
  } finally {
    check(await stopServer(srv) === 0, 'text server exits cleanly');
  }
  // mean pooling is another vector, also normalised
  const srv2 = await startServer(['-m', TEXT_MODEL, '-np', '1', '-c', '256', '-t', '1', '--pooling', 'mean']);
  try {
    const e = await post(srv2.url + '/v1/embeddings', { input: 'hello world' });
    const v = e.json.data[0].embedding;
    check(Math.abs(Math.sqrt(v.reduce((a, b) => a + b * b, 0)) - 1) < 1e-5, 'mean pooling: unit norm');
  } finally {
    check(await stopServer(srv2) === 0, 'mean-pooling server exits cleanly');
  }
}

// ------------------------------------------------------------------ task heads
const heads = [['seq-cls', ['--labels', 'neg,neutral,pos', '--pad-id', '0']], ['token-cls', ['--labels', 'O,B-PER,I-PER']], ['qa', []]];
for (const [kind, extra] of heads) {
  const dir = path.join(TMP, `head-${kind}`);
  execFileSync(BIN, ['mkmodel', '-o', dir, '--preset', 'tiny', '--hidden', '64', '--layers', '2', '--heads', '2', '--kv-heads', '1',
                     '--head-dim', '32', '--ffn', '64', '--experts', '2', '--head', kind, ...extra, '--force'], { stdio: 'ignore' });
  fs.copyFileSync(path.join(SHARED, 'tokenizer/tokenizer.json'), path.join(dir, 'tokenizer.json'));
  const srv = await startServer(['-m', dir, '-np', '2', '-c', '512', '-t', '1']);
  const u = srv.url;
  try {
    const g = await post(u + '/v1/chat/completions', chat({}));
    check(g.status === 400 && /no language-model head/.test(g.json?.error?.message), `${kind}: chat refused`, g.text);
    if (kind === 'seq-cls') {
      const r = await post(u + '/classify', { input: ['a good film', 'a bad one'] });
      const d = r.json?.data;
      check(r.status === 200 && d.length === 2 && d.every((x) => x.labels.length === 3 &&
            Math.abs(x.labels.reduce((a, l) => a + l.score, 0) - 1) < 1e-5 && x.label === x.labels[0].label &&
            x.labels.every((l, i) => i === 0 || l.score <= x.labels[i - 1].score)), 'seq-cls: sorted labels, softmax', r.text);
      const ids = (await post(u + '/tokenize', { content: 'a good film' })).json.tokens;
      const padded = await post(u + '/classify', { input: [[...ids, 0, 0]] });
      check(Math.abs(padded.json.data[0].score - d[0].score) < 1e-5 && padded.json.data[0].label === d[0].label,
            'seq-cls: right padding (pad id 0) is skipped');
    } else if (kind === 'token-cls') {
      const ids = (await post(u + '/tokenize', { content: 'John lives here' })).json.tokens;
      const r = await post(u + '/classify', { input: 'John lives here' });
      const t = r.json?.data?.[0]?.tokens;
      check(r.status === 200 && t.length === ids.length && t.every((x, i) => x.id === ids[i] && ['O', 'B-PER', 'I-PER'].includes(x.label)) &&
            t.map((x) => x.text).join('') === 'John lives here', 'token-cls: a label per token', r.text);
    } else {
      const r = await post(u + '/classify', { question: 'Who lives here?', context: 'John lives here with his cat.', max_answer_len: 4 });
      const d = r.json?.data?.[0];
      check(r.status === 200 && d.start >= 0 && d.end >= d.start && d.end - d.start < 4 && d.score > 0 && d.score <= 1 &&
            'John lives here with his cat.'.includes(d.answer.trim()), 'qa: the best span inside the context', r.text);
      const b = await post(u + '/classify', { question: 'x', context: 'y', input: 'z' });
      check(b.status === 400 && /not both/.test(b.json?.error?.message), 'qa: input with question refused', b.text);
    }
    const e = await post(u + '/v1/embeddings', { input: 'any text' });
    check(e.status === 200 && e.json.data[0].embedding.length === 64, `${kind}: embeddings from a head checkpoint`);
    const bad = await post(u + '/classify', { input: 'x', top_k: 3 });
    check(bad.status === 400 && /'top_k'/.test(bad.json?.error?.message), `${kind}: unknown field refused`, bad.text);
  } finally {
    check(await stopServer(srv) === 0, `${kind} server exits cleanly`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
done();
