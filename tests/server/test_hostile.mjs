// test_hostile.mjs — `minimax serve` against hostile and careless clients on loopback: request bytes that are
// not UTF-8 (URL, method, model id), and after each attack the server must still answer /health.
import { check, done, startServer, stopServer, post, get, stream, rawRequest, rawJson, GOLDEN } from './lib.mjs';

const alive = async (srv, what) => {
  let h = null;
  try { h = await get(srv.url + '/health'); } catch (e) { h = { status: 0, text: String(e) }; }
  return check(h.status === 200, `server still healthy after ${what}`, h.status ? h.text : srv.log().slice(-1500));
};
const REPL = '\ufffd';

// ------------------------------------------------------------------ request bytes that are not UTF-8
{
  const srv = await startServer(['-m', GOLDEN, '-np', '2', '-c', '256', '-t', '1', '--cache-mb', '0']);
  try {
    // the 404 message quotes the decoded URL: %ff is not UTF-8
    let r = await rawRequest(srv.port, 'GET /%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let j = rawJson(r);
    check(r.status === 404 && j?.error?.message?.includes(REPL), 'GET /%ff → 404 with U+FFFD in the message', r.head + r.body);
    await alive(srv, 'GET /%ff');
    // a URL whose quote is cut inside a UTF-8 character by the message length limit (two alignments)
    for (const pre of ['/', '/a']) {
      r = await rawRequest(srv.port, `GET ${pre}${'%C3%A9'.repeat(700)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      j = rawJson(r);
      check(r.status === 404 && j?.error?.message?.startsWith('no such endpoint'), `long UTF-8 URL (${pre}) → 404 JSON`, r.head);
      await alive(srv, `a long UTF-8 URL (${pre})`);
    }
    // a method that is not ASCII: refused, whoever refuses it
    r = await rawRequest(srv.port, Buffer.concat([Buffer.from('G'), Buffer.from([0xff]), Buffer.from('T /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]));
    check(r.status >= 400 && r.status < 500, 'method G\\xffT → 4xx', r.head);
    await alive(srv, 'method G\\xffT');
    r = await rawRequest(srv.port, Buffer.concat([Buffer.from('G'), Buffer.from([0xff]), Buffer.from('T /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]));
    check(r.status >= 400 && r.status < 500, 'method G\\xffT on a real route → 4xx', r.head);
    await alive(srv, 'method G\\xffT on a real route');
    // a JSON parse error quotes the bad bytes
    r = await rawRequest(srv.port, Buffer.concat([Buffer.from('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3\r\nConnection: close\r\n\r\n'),
                                                  Buffer.from([0xff, 0xfe, 0x7b])]));
    j = rawJson(r);
    check(r.status === 400 && j?.error?.code === 'invalid_json', 'body \\xff\\xfe{ → 400 invalid_json', r.head + r.body);
    await alive(srv, 'a body of invalid UTF-8');
  } finally {
    check(await stopServer(srv) === 0, 'server exits 0 after the byte attacks', srv.log().slice(-2000));
  }
}

// ------------------------------------------------------------------ a model id that is not UTF-8
{
  const srv = await startServer(['-m', GOLDEN, '-np', '1', '-c', '256', '-t', '1', '--cache-mb', '0'], { shellArgs: "--alias $'ab\\xff\\xfe'" });
  try {
    const r = await post(srv.url + '/v1/completions', { prompt: [1, 2, 3], max_tokens: 3 });
    check(r.status === 200 && r.json?.model === `ab${REPL}${REPL}` && r.json?.choices?.[0]?.token_ids?.length === 3,
          'non-UTF-8 alias: a full answer with U+FFFD in the id', r.text);
    const s = await stream(srv.url + '/v1/completions', { prompt: [1, 2, 3], max_tokens: 3 });
    check(s.status === 200 && s.done && s.events.length >= 1 && s.events.every((e) => e.model === `ab${REPL}${REPL}`),
          'non-UTF-8 alias: streaming works', s.error || s.events.length);
    const m = await get(srv.url + '/v1/models');
    check(m.status === 200 && m.json?.data?.[0]?.id === `ab${REPL}${REPL}`, 'non-UTF-8 alias: /v1/models', m.text);
    await alive(srv, 'requests with a non-UTF-8 model id');
  } finally {
    check(await stopServer(srv) === 0, 'non-UTF-8 alias server exits 0', srv.log().slice(-2000));
  }
}

done();
