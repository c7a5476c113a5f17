// ref_encode.js — the reference side of the tokenizer benchmark: Hugging Face `tokenizers` (Rust, napi-rs).
// usage: node ref_encode.js TOKENIZER_JSON CORPUS chunks|whole IDS_OUT
// Chunks are cut exactly like `minimax tokenize --bench`: each ends just after the first '\n' at or past
// 4096 bytes from its start (or at the end). Prints one JSON line; the ids go to IDS_OUT as little-endian int32.
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

(async () => {
  const [tokPath, corpus, mode, idsOut] = process.argv.slice(2);
  const t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(tokPath);
  const loadS = Number(process.hrtime.bigint() - t0) / 1e9;
  const buf = fs.readFileSync(corpus);
  let inputs = [];
  if (mode === 'whole') inputs = [buf.toString('utf8')];
  else {
    for (let a = 0; a < buf.length;) {
      let b = a + 4096;
      if (b >= buf.length) b = buf.length;
      else { const nl = buf.indexOf(10, b); b = nl < 0 ? buf.length : nl + 1; }
      inputs.push(buf.toString('utf8', a, b));
      a = b;
    }
  }
  const t1 = process.hrtime.bigint();
  const encs = mode === 'whole' ? [await tok.encode(inputs[0])] : await tok.encodeBatch(inputs);
  const secs = Number(process.hrtime.bigint() - t1) / 1e9;
  let total = 0;
  const parts = encs.map((e) => { const ids = Int32Array.from(e.getIds()); total += ids.length; return ids; });
  const out = fs.openSync(idsOut, 'w');
  for (const p of parts) fs.writeSync(out, Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  fs.closeSync(out);
  console.log(JSON.stringify({
    impl: 'hf-tokenizers', mode, threads: Number(process.env.RAYON_NUM_THREADS || 0), bytes: buf.length,
    chunks: inputs.length, tokens: total, seconds: secs, mb_per_s: buf.length / secs / 1e6,
    tokens_per_s: total / secs, load_s: loadS, peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  }));
})().catch((e) => { console.error(e); process.exit(1); });
