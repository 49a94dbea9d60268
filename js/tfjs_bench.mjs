// Time a TF.js graph model in Node: batch-1 latencies and batch-256 throughput, as JSON on stdout.
// usage: node tfjs_bench.mjs <model.json> <images.f32> <seconds-per-measure> [wasm|cpu]
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadGraphModelFromDisk, predict } from './tfjs_model.mjs';

const [modelPath, imagesPath, secondsText, backend = 'wasm'] = process.argv.slice(2);
const budgetMs = Number.parseFloat(secondsText) * 1000;
const graph = await loadGraphModelFromDisk(modelPath, backend);
const raw = readFileSync(imagesPath);
const images = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const available = images.length / 784;

const latenciesMs = [];
for (let i = 0; i < 20; i += 1) predict(graph, images.subarray(0, 784), 1); // warm-up
let start = performance.now();
for (let i = 0; latenciesMs.length < 5000 && performance.now() - start < budgetMs; i = (i + 1) % available) {
  const t = performance.now();
  predict(graph, images.subarray(i * 784, (i + 1) * 784), 1);
  latenciesMs.push(performance.now() - t);
}
const batch = Math.min(256, available);
let done = 0;
start = performance.now();
while (done < 256 * 200 && performance.now() - start < budgetMs) {
  predict(graph, images.subarray(0, batch * 784), batch);
  done += batch;
}
const seconds = (performance.now() - start) / 1000;
process.stdout.write(JSON.stringify({ latencies_ms: latenciesMs, batch_images: done, batch_seconds: seconds }));
