// test_api.mjs — the OpenAI API through the official `openai` client (golden checkpoint with token-id
// prompts, and a random text model with the real tokenizer), /tokenize, /metrics, every error case,
// authentication, client disconnects and the SIGTERM drain.
import OpenAI from 'openai';
import { check, done, startServer, stopServer, post, get, stream, streamIds, streamText, goldenManifest, randomIds, metric,
         sleep, GOLDEN, TEXT_MODEL } from './lib.mjs';

const man = goldenManifest();
const gens = man.generations.map((g) => ({ prompt: man.prompts.find((p) => p.index === g.prompt_index).input_ids, ids: g.generated_ids }));

// ------------------------------------------------------------------ golden model: token ids, exact outputs
{
  const srv = await startServer(['-m', GOLDEN, '-np', '2', '-c', '512', '-t', '1', '--max-body-kb', '64', '--cache-mb', '16']);
  const client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0 });
  try {
    const models = await client.models.list();
    check(models.data.length === 1 && models.data[0].id === 'a_small_mixed', 'models.list', models.data);
    const h = await get(srv.url + '/health');
    check(h.status === 200 && h.json.status === 'ok', '/health ok', h.text);

    for (const g of gens) {
      const r = await client.completions.create({ model: 'a_small_mixed', prompt: g.prompt, max_tokens: g.ids.length, temperature: 0 });
      check(JSON.stringify(r.choices[0].token_ids) === JSON.stringify(g.ids), `completion ids = golden for prompt ${g.prompt}`, r.choices[0].token_ids);
      check(r.usage.prompt_tokens === g.prompt.length && r.usage.completion_tokens === g.ids.length &&
            r.usage.total_tokens === g.prompt.length + g.ids.length, 'usage counts', r.usage);
      check(r.choices[0].finish_reason === 'length' && r.object === 'text_completion', 'finish_reason length');
      check(typeof r.timings?.prompt_ms === 'number' && typeof r.timings?.predicted_per_second === 'number', 'timings present', r.timings);
    }
    // streaming through the client, with usage
    const g = gens[0];
    const st = await client.completions.create({ model: 'x', prompt: g.prompt, max_tokens: g.ids.length, temperature: 0, stream: true,
                                                 stream_options: { include_usage: true } });
    const ids = [];
    let usage = null, finish = null;
    for await (const ch of st) {
      if (ch.choices?.length) { ids.push(...(ch.choices[0].token_ids || [])); finish = ch.choices[0].finish_reason || finish; }
      if (ch.usage) usage = ch.usage;
    }
    check(JSON.stringify(ids) === JSON.stringify(g.ids), 'streamed completion ids = golden', ids);
    check(usage && usage.completion_tokens === g.ids.length && finish === 'length', 'stream usage chunk and finish', { usage, finish });

    // ---- errors
    let r = await post(srv.url + '/v1/completions', '{"prompt": [1, 2');
    check(r.status === 400 && r.json?.error?.type === 'invalid_request_error' && r.json.error.message, 'malformed JSON → 400', r.text);
    r = await post(srv.url + '/v1/completions', { prompt: [1], temperature: 'hot' });
    check(r.status === 400 && /temperature/.test(r.json?.error?.message), 'bad field → 400 naming it', r.text);
    r = await post(srv.url + '/v1/completions', { prompt: [1], n: 2 });
    check(r.status === 400 && /'n'/.test(r.json?.error?.message), 'n = 2 → 400', r.text);
    r = await post(srv.url + '/v1/completions', { prompt: [1, 999] });
    check(r.status === 400 && /999/.test(r.json?.error?.message), 'token id out of the vocabulary → 400', r.text);
    r = await post(srv.url + '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
    check(r.status === 400 && /tokenizer/.test(r.json?.error?.message), 'chat without a tokenizer → 400', r.text);
    r = await post(srv.url + '/v1/completions', { prompt: randomIds(600, 512) });
    check(r.status === 400 && /600/.test(r.json?.error?.message) && /512/.test(r.json?.error?.message) &&
          r.json.error.code === 'context_length_exceeded', 'prompt longer than the context → 400 naming both', r.text);
    r = await post(srv.url + '/v1/completions', JSON.stringify({ prompt: 'x'.repeat(100 * 1024) }));
    check(r.status === 413 && r.json?.error?.message, 'body over the limit → 413', r.status);
    r = await get(srv.url + '/v1/nothing');
    check(r.status === 404 && r.json?.error?.type === 'not_found_error', 'unknown route → 404', r.text);
    r = await get(srv.url + '/v1/completions');
    check(r.status === 405, 'wrong method → 405', r.status);
    try {
      await client.completions.create({ model: 'x', prompt: [1], n: 3 });
      check(false, 'client sees an error for n = 3');
    } catch (e) {
      check(e.status === 400 && /'n'/.test(e.message), 'client: BadRequestError for n = 3', e.message);
    }

    // ---- a client that disconnects mid-stream frees its slot
    const before = await get(srv.url + '/metrics');
    const ab = await stream(srv.url + '/v1/completions', { prompt: [5, 6, 7], max_tokens: 100000, ignore_eos: true },
                            { onEvent: (ev, i) => (i >= 3 ? 'abort' : undefined) });
    check(ab.aborted && ab.events.length >= 3, 'stream started then aborted');
    let idle = false;
    for (let i = 0; i < 50 && !idle; i++) {
      await sleep(100);
      const hh = await get(srv.url + '/health');
      idle = hh.json.slots_processing === 0 && hh.json.requests_queued === 0;
    }
    check(idle, 'slot freed after the client disconnected');
    const after = await get(srv.url + '/metrics');
    check(metric(after.text, 'minimax_requests_cancelled_total') === metric(before.text, 'minimax_requests_cancelled_total') + 1,
          'metrics count the cancelled request', after.text.match(/cancelled_total .*/)?.[0]);
    // the server still works and still gives golden outputs
    r = await post(srv.url + '/v1/completions', { prompt: gens[1].prompt, max_tokens: gens[1].ids.length, temperature: 0 });
    check(JSON.stringify(r.json?.choices?.[0]?.token_ids) === JSON.stringify(gens[1].ids), 'golden after a disconnect');
    // metrics text
    check(/^minimax_prefill_tokens_per_second [0-9.]+$/m.test(after.text) && /^minimax_decode_tokens_per_second /m.test(after.text) &&
          /^minimax_cache_hits_total /m.test(after.text) && /^minimax_requests_queued /m.test(after.text) &&
          /^minimax_requests_total\{endpoint="completions"\} \d+$/m.test(after.text), 'metrics exposes the Prometheus series');
  } finally {
    check(await stopServer(srv) === 0, 'golden server exits 0 on SIGTERM', srv.log().slice(-2000));
  }
}

// ------------------------------------------------------------------ queue full → 503 + Retry-After; SIGTERM drains
{
  const srv = await startServer(['-m', GOLDEN, '-np', '1', '--queue', '0', '-c', '4096', '-t', '1']);
  let firstDone = null;
  const long = stream(srv.url + '/v1/completions', { prompt: [1, 2, 3], max_tokens: 400, ignore_eos: true, temperature: 0 },
                      { onEvent: (ev, i) => { if (i === 0) firstDone = true; } });
  while (!firstDone) await sleep(10);
  const r = await post(srv.url + '/v1/completions', { prompt: [1], max_tokens: 1 });
  check(r.status === 503 && r.headers.get('retry-after') && r.json?.error?.message, 'queue full → 503 with Retry-After', r.status);
  // SIGTERM now: the running stream must still complete with all its tokens, new work is refused, exit 0
  srv.proc.kill('SIGTERM');
  await sleep(200);
  let refused = false;
  try {
    const r2 = await post(srv.url + '/v1/completions', { prompt: [1], max_tokens: 1 });
    refused = r2.status === 503;
  } catch { refused = true; /* already closed */ }
  check(refused, 'new requests refused while draining');
  const s = await long;
  check(s.done && streamIds(s).length === 400, 'in-flight stream finished during the drain', streamIds(s).length);
  const code = await new Promise((res) => (srv.proc.exitCode !== null ? res(srv.proc.exitCode) : srv.proc.on('exit', (c) => res(c))));
  check(code === 0, 'exit 0 after draining', srv.log().slice(-1500));
}

// ------------------------------------------------------------------ --api-key
{
  const srv = await startServer(['-m', GOLDEN, '-np', '1', '-c', '256', '-t', '1', '--api-key', 'sekret']);
  try {
    let r = await get(srv.url + '/health');
    check(r.status === 200, '/health needs no key');
    r = await get(srv.url + '/v1/models');
    check(r.status === 401 && r.json?.error?.type === 'authentication_error', 'no key → 401', r.text);
    r = await get(srv.url + '/metrics', { authorization: 'Bearer wrong' });
    check(r.status === 401, 'wrong key → 401');
    r = await post(srv.url + '/v1/completions', { prompt: [1], max_tokens: 1 }, { authorization: 'Bearer sekret' });
    check(r.status === 200, 'right key → 200', r.text);
    const client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'sekret', maxRetries: 0 });
    check((await client.models.list()).data.length === 1, 'client with the key');
    try {
      await new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'nope', maxRetries: 0 }).models.list();
      check(false, 'client with a wrong key must fail');
    } catch (e) { check(e.status === 401, 'client: AuthenticationError', e.message); }
  } finally {
    check(await stopServer(srv) === 0, 'api-key server exits 0');
  }
}

// ------------------------------------------------------------------ text model: chat, streaming, tools, stop, tokenize
if (TEXT_MODEL) {
  const srv = await startServer(['-m', TEXT_MODEL, '-np', '2', '-c', '2048', '-t', '1', '--alias', 'tiny']);
  const client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0 });
  try {
    const messages = [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Say hello in five words.' }];
    const r = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, temperature: 0 });
    const text = r.choices[0].message.content;
    check(r.object === 'chat.completion' && r.choices[0].message.role === 'assistant' && typeof text === 'string' && text.length > 0,
          'chat completion content', r.choices[0]);
    check(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12 && r.usage.prompt_tokens > 10 &&
          r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, 'chat usage', r.usage);
    check(['length', 'stop'].includes(r.choices[0].finish_reason), 'chat finish_reason', r.choices[0].finish_reason);

    // streaming gives the same text (greedy), with role first and usage last
    const st = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, temperature: 0, stream: true,
                                                      stream_options: { include_usage: true } });
    let streamed = '', usage = null, finish = null, n = 0;
    for await (const ch of st) {
      n++;
      if (ch.choices?.length) { streamed += ch.choices[0].delta?.content || ''; finish = ch.choices[0].finish_reason || finish; }
      if (ch.usage) usage = ch.usage;
    }
    check(streamed === text, 'streamed chat = non-streamed chat', { streamed, text });
    check(n >= 2 && usage && usage.completion_tokens === r.usage.completion_tokens && finish === r.choices[0].finish_reason,
          'stream usage and finish', { usage, finish });

    // list-of-parts content renders like a string
    const r2 = await client.chat.completions.create({ model: 'tiny', max_tokens: 12, temperature: 0,
      messages: [{ role: 'system', content: [{ type: 'text', text: 'You are a helpful assistant.' }] },
                 { role: 'user', content: [{ type: 'text', text: 'Say hello in five words.' }] }] });
    check(r2.choices[0].message.content === text && r2.usage.prompt_tokens === r.usage.prompt_tokens, 'list-of-parts content = string content');

    // stop: cut the greedy text at a substring of it
    if (text.length >= 6) {
      const stopStr = text.slice(3, 6);
      const r3 = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, temperature: 0, stop: [stopStr] });
      check(r3.choices[0].message.content === text.slice(0, text.indexOf(stopStr)) && r3.choices[0].finish_reason === 'stop',
            'stop string cuts the output', { got: r3.choices[0].message.content, stopStr });
      const s3 = await stream(srv.url + '/v1/chat/completions', { messages, max_tokens: 12, temperature: 0, stop: stopStr });
      check(streamText(s3) === text.slice(0, text.indexOf(stopStr)), 'stop string in a stream: never sent', streamText(s3));
    }

    // tools are rendered into the prompt with the chat template (the random model will not call them)
    const tools = [{ type: 'function', function: { name: 'get_current_weather', description: 'Get the latest weather for a location',
                     parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } } }];
    const r4 = await client.chat.completions.create({ model: 'tiny', messages, tools, max_tokens: 4, temperature: 0 });
    check(r4.usage.prompt_tokens > r.usage.prompt_tokens + 20 && r4.choices[0].message.role === 'assistant', 'tools rendered into the prompt',
          { with: r4.usage.prompt_tokens, without: r.usage.prompt_tokens });
    const tk = await post(srv.url + '/tokenize', { content: '<beginning_of_sentence>system function_setting=functions\n' });
    check(tk.status === 200 && tk.json.tokens[0] === 200019, '/tokenize parses special tokens', tk.text);
    // a history with a tool call and its result is accepted and rendered
    const r5 = await client.chat.completions.create({ model: 'tiny', tools, max_tokens: 4, temperature: 0, messages: [
      ...messages,
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_current_weather', arguments: '{"location":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21}' }] });
    check(r5.usage.prompt_tokens > r4.usage.prompt_tokens + 10, 'tool-call history rendered', r5.usage);

    // completions with a text prompt, and tokenize/detokenize round trip
    const c = await client.completions.create({ model: 'tiny', prompt: 'The capital of France is', max_tokens: 5, temperature: 0 });
    check(typeof c.choices[0].text === 'string' && c.choices[0].token_ids.length === c.usage.completion_tokens, 'text completion', c.choices[0]);
    const t1 = await post(srv.url + '/tokenize', { content: 'Hello, world! 你好' });
    const t2 = await post(srv.url + '/detokenize', { tokens: t1.json.tokens });
    check(t1.status === 200 && t1.json.tokens.length > 3 && t2.json.content === 'Hello, world! 你好', 'tokenize/detokenize round trip', t2.text);
    const bad = await post(srv.url + '/detokenize', { tokens: [-1] });
    check(bad.status === 400, 'detokenize validates ids');
  } finally {
    check(await stopServer(srv) === 0, 'text server exits 0', srv.log().slice(-1500));
  }
}
done();
