// test_vl.mjs — images at the server (a random MiniMax-VL-01 model with the real tokenizer): chat requests with
// image_url data-URL parts (the official `openai` client too, streaming too), the prefix cache keyed by image
// content (the same image again restores the state past it: no encode, no prefill; another image misses), the
// image metrics, every bad input (remote URLs, non-image media types, bad base64, non-image bytes, truncated files,
// too many / too large / too many pixels, images where they do not belong, image tokens in /v1/completions) with
// the server staying healthy, a literal <image> in text staying text, the image memory limit (--image-mem-mb),
// and the chat page in headless Chromium: attach an image, see its thumbnail, get a streamed answer, a second turn
// about it served from the cache.
import OpenAI from 'openai';
import fs from 'node:fs';
import path from 'node:path';
import { check, done, startServer, stopServer, post, get, stream, streamText, metric, sleep, openBrowser, TMP, SHARED,
         CHROMIUM } from './lib.mjs';

const VL = process.env.MM_SERVER_VL_MODEL;
if (!VL) { check(false, 'MM_SERVER_VL_MODEL is not set (tests/cli_server.sh builds it)'); done(); }
const PRE = path.join(SHARED, 'golden-vl/preprocess');
const png7 = fs.readFileSync(path.join(PRE, 'img7_rgb_337x335.png'));   // 1176 image tokens
const png9 = fs.readFileSync(path.join(PRE, 'img9_rgba_200x500.png'));  // 1584 image tokens
const url = (buf, type = 'image/png') => `data:${type};base64,${buf.toString('base64')}`;
const ask = (text, ...urls) => ({ messages: [{ role: 'user', content: [{ type: 'text', text }, ...urls.map((u) => ({ type: 'image_url', image_url: { url: u } }))] }],
                                  max_tokens: 6, temperature: 0 });

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) { c ^= b; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1; }
  return (c ^ 0xffffffff) >>> 0;
}
function bomb(png, w, h) {   // the same PNG with an IHDR promising w × h pixels
  const b = Buffer.from(png);
  b.writeUInt32BE(w, 16); b.writeUInt32BE(h, 20); b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
  return b;
}

const srv = await startServer(['-m', VL, '-np', '2', '-c', '8192', '-t', '1', '--cache-mb', '256', '--image-max-mb', '1',
                               '--image-max-pixels', '4000000', '--image-max-count', '2']);
try {
  const m = await get(srv.url + '/v1/models');
  check(m.json?.data?.[0]?.meta?.vision === true && m.json.data[0].meta.model_type === 'minimax_vl_01', '/v1/models says vision', m.text);

  // ---- one image; the same request again is served past the image from the prefix cache
  let r1 = await post(srv.url + '/v1/chat/completions', ask('What is in this image?', url(png7)));
  check(r1.status === 200 && r1.json.usage.prompt_tokens > 1176 && r1.json.timings.cache_n === 0, 'chat with an image', r1.text);
  let r2 = await post(srv.url + '/v1/chat/completions', ask('What is in this image?', url(png7)));
  check(r2.status === 200 && r2.json.choices[0].message.content === r1.json.choices[0].message.content,
        'the same request again gives the same answer', [r1.json?.choices?.[0], r2.json?.choices?.[0]]);
  check(r2.json.timings.cache_n >= 1176 && r2.json.timings.prompt_n < 32, 'the second request restores the state past the image',
        r2.json?.timings);
  let met = (await get(srv.url + '/metrics')).text;
  check(metric(met, 'minimax_images_total') === 2 && metric(met, 'minimax_images_encoded_total') === 1 &&
        metric(met, 'minimax_images_cached_total') === 1 && metric(met, 'minimax_image_patches_encoded_total') === 3 &&
        metric(met, 'minimax_image_encode_seconds_total') > 0, 'image metrics: 2 received, 1 encoded (3 patches), 1 from the cache', met);
  // a different image after the same text: the cache cannot cover its span
  const r3 = await post(srv.url + '/v1/chat/completions', ask('What is in this image?', url(png9)));
  check(r3.status === 200 && r3.json.timings.cache_n < 32 && r3.json.usage.prompt_tokens === r1.json.usage.prompt_tokens + 1584 - 1176,
        'another image is not taken from the cache', r3.json?.timings);
  // two images, JPEG bytes under a PNG media type (the signature decides), through the official client, streamed
  const client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0 });
  const jpg = fs.readFileSync(path.join(PRE, 'img1_rgb_640x480.jpg'));
  const c = await client.chat.completions.create({ model: 'x', ...ask('Compare them.', url(png7), url(jpg)) });
  check(c.usage.prompt_tokens > 1176 + 2340 && c.choices[0].message.content.length > 0, 'openai client, two images', c.usage);
  const s = await stream(srv.url + '/v1/chat/completions', { ...ask('Describe it.', url(png9)), stream_options: { include_usage: true } });
  check(s.status === 200 && s.done && streamText(s).length > 0, 'streamed answer about an image', s.error);
  met = (await get(srv.url + '/metrics')).text;
  check(metric(met, 'minimax_images_total') === 6, 'images_total counts every accepted image', met);

  // ---- bad input: each a clear 400/413, and the server stays healthy
  const bad = async (body, status, re, what) => {
    const r = await post(srv.url + '/v1/chat/completions', body);
    check(r.status === status && re.test(r.json?.error?.message || ''), what, r.text);
  };
  await bad(ask('x', 'https://example.com/cat.png'), 400, /remote.*not fetched/, 'remote URL → 400');
  await bad(ask('x', 'file:///etc/passwd'), 400, /not fetched/, 'file URL → 400');
  await bad(ask('x', 'ftp://x/y.png'), 400, /data URL/, 'another scheme → 400');
  await bad(ask('x', 'data:text/plain;base64,aGVsbG8='), 400, /not an image type/, 'text/plain payload → 400');
  await bad(ask('x', 'data:image/png,rawbytes'), 400, /base64/, 'non-base64 data URL → 400');
  await bad(ask('x', 'data:image/png;base64,@@@@'), 400, /invalid base64/, 'bad base64 → 400');
  await bad(ask('x', 'data:image/png;base64,'), 400, /no data/, 'empty data → 400');
  await bad(ask('x', 'data:image/png;base64,aGVsbG8gd29ybGQ='), 400, /unknown format/, 'non-image bytes → 400');
  await bad(ask('x', url(png7.subarray(0, 300))), 400, /truncated/, 'truncated PNG → 400');
  await bad(ask('x', url(jpg.subarray(0, 2000), 'image/jpeg')), 400, /truncated/, 'truncated JPEG → 400');
  await bad(ask('x', url(bomb(png7, 60000, 60000))), 413, /limit of 4000000 pixels/, 'decompression-bomb header → 413');
  await bad(ask('x', url(Buffer.alloc(1200000, 7))), 413, /limit of 1048576 bytes/, 'image over --image-max-mb → 413');
  await bad(ask('x', url(png7), url(png7), url(png7)), 400, /limit of 2/, 'three images over --image-max-count → 400');
  await bad({ messages: [{ role: 'assistant', content: [{ type: 'image_url', image_url: { url: url(png7) } }] }] }, 400,
            /user and system messages/, 'an image in an assistant message → 400');
  await bad({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 42 }] }] }, 400, /image_url/, 'image_url not a URL → 400');
  // message content is text: a literal <image> a client writes is text, not a second placeholder
  let r = await post(srv.url + '/v1/chat/completions', { ...ask('a literal <image> in the text'), messages: [{ role: 'user', content: [
    { type: 'text', text: 'a literal <image> in the text' }, { type: 'image_url', image_url: { url: url(png7) } }] }] });
  check(r.status === 200 && r.json.usage.prompt_tokens > 1176 && r.json.usage.prompt_tokens < 1176 + 40,
        'a literal <image> in the text stays text (one image, its tokens only)', r.text);
  r = await post(srv.url + '/v1/completions', { prompt: [1, 200025, 2], max_tokens: 1 });
  check(r.status === 400 && /image token/.test(r.json?.error?.message), 'image tokens in /v1/completions → 400', r.text);
  r = await post(srv.url + '/v1/embeddings', { input: [[1, 200025, 2]] });
  check(r.status === 400 && /image token/.test(r.json?.error?.message), 'image tokens in /v1/embeddings → 400', r.text);
  r = await post(srv.url + '/v1/embeddings', { input: 'Just text.' });
  check(r.status === 200 && r.json.data[0].embedding.length === 64, 'a VL model embeds text', r.text);
  r = await post(srv.url + '/v1/chat/completions', { messages: [{ role: 'user', content: 'Just text.' }], max_tokens: 3 });
  check(r.status === 200 && r.json.choices[0].message.content.length >= 0, 'text-only chat still works', r.text);
  let h;
  for (let i = 0; i < 50; i++) {   // a finished job frees its slot just after its answer went out
    h = await get(srv.url + '/health');
    if (h.json?.slots_processing === 0) break;
    await sleep(100);
  }
  check(h.status === 200 && h.json.status === 'ok' && h.json.slots_processing === 0, 'healthy after the bad input', h.text);

  // ---- the chat page: attach, thumbnail, streamed answer, second turn from the cache
  if (!fs.existsSync(CHROMIUM)) check(false, `the browser test needs ${CHROMIUM} (run scripts/deps-test.sh)`);
  else {
    let br;
    try {
      br = await openBrowser();
      const { page, errors } = br;
      await page.goto(srv.url + '/');
      await page.waitForFunction(() => !document.getElementById('attach').hidden);
      check(await page.isVisible('#attach'), 'the Image button shows for a vision model');
      await page.setInputFiles('#file', path.join(PRE, 'img9_rgba_200x500.png'));
      await page.waitForSelector('#pending .thumb img');
      check(await page.locator('#pending .thumb').count() === 1, 'thumbnail of the attached image');
      await page.fill('#maxTokens', '6');
      await page.fill('#temperature', '0');
      await page.fill('#input', 'What do you see?');
      await page.click('#send');
      await page.waitForSelector('.msg.assistant[data-done="done"]');
      check(await page.locator('.msg.user img').count() === 1 && await page.locator('#pending .thumb').count() === 0,
            'the image moved into the user bubble');
      check((await page.textContent('.msg.assistant .body')).length > 0, 'a streamed answer appeared');
      await page.fill('#input', 'And its colours?');
      await page.press('#input', 'Enter');
      await page.waitForFunction(() => document.querySelectorAll('.msg.assistant[data-done="done"]').length === 2);
      const meta = await page.textContent('.msg.assistant:nth-of-type(4) .meta');
      check(/from cache/.test(meta) && +(meta.match(/(\d+) prompt tokens from cache/) || [0, 0])[1] > 1584,
            'the second turn restores the image from the prefix cache', meta);
      // paste: a clipboard image becomes an attachment
      await page.evaluate(async (b64) => {
        const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
        document.getElementById('input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      }, png7.toString('base64'));
      await page.waitForSelector('#pending .thumb img');
      check(await page.locator('#pending .thumb').count() === 1, 'a pasted image is attached');
      await page.click('#pending .thumb button');
      check(await page.locator('#pending .thumb').count() === 0, 'the × removes an attachment');
      const shot = path.join(TMP, 'server-web-vl.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`screenshot: ${shot}`);
      check(errors.length === 0, 'no page errors', errors);
    } catch (e) {
      check(false, 'browser test', String(e));
    } finally {
      if (br) await br.close();
    }
  }
} catch (e) {
  check(false, 'vl server test', String(e.stack || e));
} finally {
  check(await stopServer(srv) === 0, 'server exits 0', srv.log().slice(-1500));
}

// ---- the image memory (--image-mem-mb 4): an image whose preprocessed pixels need more than all of it → 413; a small
// one fits, and its bytes are given back once encoded (the same request again still fits)
const small = await startServer(['-m', VL, '-np', '1', '-c', '8192', '-t', '1', '--cache-mb', '0', '--image-mem-mb', '4']);
try {
  const png6 = fs.readFileSync(path.join(PRE, 'img6_rgb_10x7.png'));
  const big = await post(small.url + '/v1/chat/completions', ask('x', url(png7)));
  check(big.status === 413 && /image memory of 4\.0 MiB/.test(big.json?.error?.message || ''), 'an image over --image-mem-mb → 413', big.text);
  for (let i = 0; i < 2; i++) {
    const ok = await post(small.url + '/v1/chat/completions', ask('x', url(png6)));
    check(ok.status === 200, `a small image fits the image memory (request ${i + 1})`, ok.text);
  }
} catch (e) {
  check(false, 'image memory test', String(e.stack || e));
} finally {
  check(await stopServer(small) === 0, 'server exits 0', small.log().slice(-1500));
}
done();
