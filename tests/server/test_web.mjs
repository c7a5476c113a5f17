// test_web.mjs — the chat page at "/" in headless Chromium (playwright-core + Debian's chromium): type a
// message, see a streamed answer with tokens/s, continue the conversation, press Stop mid-answer (the
// server frees the slot), and save a screenshot under the test temp dir.
import fs from 'node:fs';
import path from 'node:path';
import { check, done, startServer, stopServer, get, sleep, openBrowser, TMP, TEXT_MODEL, CHROMIUM } from './lib.mjs';

if (!TEXT_MODEL || !fs.existsSync(CHROMIUM)) {
  check(false, `the browser test needs a text model and ${CHROMIUM} (run scripts/deps-test.sh)`);
  done();
}
const srv = await startServer(['-m', TEXT_MODEL, '-np', '2', '-c', '4096', '-t', '1']);
let br;
try {
  br = await openBrowser();
  const { page, errors } = br;
  await page.goto(srv.url + '/');
  check((await page.title()).includes('minimax'), 'page title');
  await page.waitForFunction(() => /context/.test(document.getElementById('info').textContent));
  check(/minimax_text_01 · context 4096 · 2 slots/.test(await page.textContent('#info')), 'model info shown', await page.textContent('#info'));

  // first turn: a short answer streams in and finishes
  await page.fill('#maxTokens', '12');
  await page.fill('#temperature', '0');
  await page.fill('#input', 'Hello! Who are you?');
  await page.click('#send');
  await page.waitForSelector('.msg.assistant[data-done="done"]');
  const first = await page.textContent('.msg.assistant .body');
  const meta = await page.textContent('.msg.assistant .meta');
  check(first.length > 0, 'an answer appeared', first);
  check(/tokens\/s/.test(meta), 'tokens/s shown', meta);
  check(await page.locator('.msg.user').count() === 1, 'user message shown');

  // second turn: a long answer; Stop while it streams
  await page.fill('#maxTokens', '4000');
  await page.fill('#temperature', '0.8');
  await page.fill('#input', 'Tell me a long story.');
  await page.press('#input', 'Enter');
  await page.waitForFunction(() => {
    const a = document.querySelectorAll('.msg.assistant .body');
    return a.length === 2 && a[1].textContent.length > 20;
  });
  check(await page.isEnabled('#stop'), 'stop button enabled while streaming');
  await page.click('#stop');
  await page.waitForSelector('.msg.assistant[data-done="stopped"]');
  check(!(await page.isEnabled('#stop')) && await page.isEnabled('#send'), 'stopped: send enabled again');
  check(await page.locator('.msg').count() === 4, 'conversation kept (2 turns)');
  let idle = false;
  for (let i = 0; i < 50 && !idle; i++) {
    const h = await get(srv.url + '/health');
    idle = h.json.slots_processing === 0;
    if (!idle) await sleep(100);
  }
  check(idle, 'stop freed the slot on the server');
  const shot = path.join(TMP, 'server-web-chat.png');
  await page.screenshot({ path: shot, fullPage: true });
  check(fs.statSync(shot).size > 1000, 'screenshot saved');
  console.log(`screenshot: ${shot}`);
  check(errors.length === 0, 'no page errors', errors);
} catch (e) {
  check(false, 'browser test', String(e));
} finally {
  if (br) await br.close();
  check(await stopServer(srv) === 0, 'web server exits 0', srv.log().slice(-1500));
}
done();
