// ONNX Runtime (npm onnxruntime-node) on the CLIP towers that bench/clip_torch.py exported.
//
// Usage: node bench_ort.js DIR [RUNS]
// DIR holds image.onnx, text.onnx, pixels.npy (n, 3, S, S) float32, ids.npy (m, context) int32
// and seize's fp32 embeddings (seize_fp32_img.npy, seize_fp32_txt.npy). Sessions run with
// SEIZE_BENCH_THREADS (2) intra-op threads, one inter-op thread, all graph optimisations.
// Images go in one batch of n; texts in batches of 32, each trimmed to its longest end-of-text
// (the first maximum of the ids), as seize does. Prints "key value" lines: the best of RUNS
// forward times, the median single-image latency, and the cosine with seize's fp32
// embeddings (min over rows), which shows that both ran the same model on the same inputs.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const TEXT_BATCH = 32;
const LATENCY_RUNS = 9;

// A .npy file (v1-v3, C order, <f4 or <i4) as {shape, data}.
function loadNpy(file) {
  const buf = fs.readFileSync(file);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').filter(s => s.trim()).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = buf.buffer.slice(buf.byteOffset + start + hlen, buf.byteOffset + start + hlen + 4 * count);
  if (descr === '<f4') return { shape, data: new Float32Array(body) };
  if (descr === '<i4') return { shape, data: new Int32Array(body) };
  throw new Error(`${file}: unsupported dtype ${descr}`);
}

// The smallest cosine between row i of a and row i of b (n rows of e values each).
function minCos(a, b, n, e) {
  let worst = 1;
  for (let i = 0; i < n; i++) {
    let ab = 0, aa = 0, bb = 0;
    for (let j = 0; j < e; j++) {
      const x = a[i * e + j], y = b[i * e + j];
      ab += x * y, aa += x * x, bb += y * y;
    }
    worst = Math.min(worst, ab / Math.sqrt(aa * bb));
  }
  return worst;
}

// The batches of ids as int64 tensors, each trimmed to its longest end-of-text.
function textBatches(ids) {
  const [m, ctx] = ids.shape, out = [];
  for (let i = 0; i < m; i += TEXT_BATCH) {
    const b = Math.min(TEXT_BATCH, m - i);
    let len = 1;
    for (let r = i; r < i + b; r++) {
      let best = 0;
      for (let t = 1; t < ctx; t++) if (ids.data[r * ctx + t] > ids.data[r * ctx + best]) best = t;
      len = Math.max(len, best + 1);
    }
    const x = new BigInt64Array(b * len);
    for (let r = 0; r < b; r++)
      for (let t = 0; t < len; t++) x[r * len + t] = BigInt(ids.data[(i + r) * ctx + t]);
    out.push(new ort.Tensor('int64', x, [b, len]));
  }
  return out;
}

const seconds = t0 => Number(process.hrtime.bigint() - t0) / 1e9;

async function best(fn, runs) {
  let b = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    await fn();
    b = Math.min(b, seconds(t0));
  }
  return b;
}

async function main() {
  const dir = process.argv[2];
  const runs = parseInt(process.argv[3] || '2', 10);
  const threads = parseInt(process.env.SEIZE_BENCH_THREADS || '2', 10);
  const opts = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
                 executionMode: 'sequential' };
  const out = (k, v) => console.log(`${k} ${v}`);
  out('ort_version', require('onnxruntime-node/package.json').version);

  const px = loadNpy(path.join(dir, 'pixels.npy'));
  const ref = loadNpy(path.join(dir, 'seize_fp32_img.npy'));
  const [n, e] = ref.shape;
  let t0 = process.hrtime.bigint();
  const img = await ort.InferenceSession.create(path.join(dir, 'image.onnx'), opts);
  out('ort_img_session_s', seconds(t0).toFixed(3));
  const feed = { pixels: new ort.Tensor('float32', px.data, px.shape) };
  const r = await img.run(feed); // warm-up, and the check
  out('ort_cos_img', minCos(r.embeddings.data, ref.data, n, e).toFixed(7));
  out('ort_img_n', n);
  out('ort_img_s', (await best(() => img.run(feed), runs)).toFixed(6));
  const per = px.data.length / px.shape[0];
  const one = { pixels: new ort.Tensor('float32', px.data.slice(0, per), [1, ...px.shape.slice(1)]) };
  await img.run(one);
  const lat = [];
  for (let i = 0; i < LATENCY_RUNS; i++) lat.push(await best(() => img.run(one), 1));
  lat.sort((a, b) => a - b);
  out('ort_lat1_s', lat[LATENCY_RUNS >> 1].toFixed(6));

  const ids = loadNpy(path.join(dir, 'ids.npy'));
  const tref = loadNpy(path.join(dir, 'seize_fp32_txt.npy'));
  t0 = process.hrtime.bigint();
  const txt = await ort.InferenceSession.create(path.join(dir, 'text.onnx'), opts);
  out('ort_txt_session_s', seconds(t0).toFixed(3));
  const batches = textBatches(ids);
  const tf = new Float32Array(ids.shape[0] * e);
  let row = 0;
  for (const b of batches) { // warm-up, and the check
    const o = await txt.run({ ids: b });
    tf.set(o.embeddings.data, row * e);
    row += b.dims[0];
  }
  out('ort_cos_txt', minCos(tf, tref.data, ids.shape[0], e).toFixed(7));
  out('ort_txt_n', ids.shape[0]);
  out('ort_txt_s', (await best(async () => { for (const b of batches) await txt.run({ ids: b }); }, runs)).toFixed(6));
}

main().catch(err => {
  console.error(`bench_ort: ${err.message}`);
  process.exit(1);
});
