// make_corpus.js — generated multilingual text for the corpus: CJK, Japanese, Korean, emoji (with ZWJ and
// skin tones), accented Latin in decomposed form (so NFC has work), Arabic/Hebrew, digits. Deterministic.
// usage: node make_corpus.js BYTES > out.txt
const want = Number(process.argv[2] || 1500000);
let s = 1234567;
const rnd = (n) => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s % n; };
const range = (a, b) => String.fromCodePoint(a + rnd(b - a + 1));
const emoji = ['🙂', '😀', '🚀', '🎉', '👍🏽', '👨‍👩‍👧', '🇫🇷', '❤️', '🌃', '🐱'];
const words = {
  zh: () => Array.from({ length: 2 + rnd(12) }, () => range(0x4e00, 0x9fa5)).join(''),
  ja: () => Array.from({ length: 2 + rnd(8) }, () => (rnd(3) ? range(0x3041, 0x3093) : range(0x30a1, 0x30f3))).join(''),
  ko: () => Array.from({ length: 1 + rnd(4) }, () => range(0xac00, 0xd7a3)).join(''),
  ar: () => Array.from({ length: 2 + rnd(6) }, () => range(0x0627, 0x064a)).join(''),
  he: () => Array.from({ length: 2 + rnd(5) }, () => range(0x05d0, 0x05ea)).join(''),
  latin: () => Array.from({ length: 3 + rnd(7) }, () => (rnd(5) ? range(0x61, 0x7a) : 'e\u0301')).join(''),
  num: () => String(rnd(10000000)),
  emoji: () => emoji[rnd(emoji.length)] + (rnd(3) ? '' : emoji[rnd(emoji.length)]),
};
const kinds = Object.keys(words);
const out = [];
let n = 0;
while (n < want) {
  const kind = kinds[rnd(kinds.length)];
  const line = [];
  for (let i = 0, m = 5 + rnd(25); i < m; i++) line.push(words[rnd(4) ? kind : kinds[rnd(kinds.length)]]());
  const l = line.join(rnd(2) ? ' ' : (kind === 'zh' || kind === 'ja' ? '，' : ', ')) + (kind === 'zh' ? '。\n' : '.\n');
  out.push(l);
  n += Buffer.byteLength(l);
}
process.stdout.write(out.join(''));
