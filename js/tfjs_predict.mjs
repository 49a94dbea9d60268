// Run a TF.js graph model in Node over a file of images.
// usage: node tfjs_predict.mjs <model.json> <images.f32> <count> <out.f32> [wasm|cpu]
import { readFileSync, writeFileSync } from 'node:fs';
import { loadGraphModelFromDisk, predict } from './tfjs_model.mjs';

const [modelPath, imagesPath, countText, outPath, backend = 'wasm'] = process.argv.slice(2);
const count = Number.parseInt(countText, 10);
const graph = await loadGraphModelFromDisk(modelPath, backend);
const raw = readFileSync(imagesPath);
const images = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
if (images.length !== count * 28 * 28) throw new Error(`expected ${count}x28x28 floats, got ${images.length}`);

const out = new Float32Array(count * 10);
const chunk = 1000;
for (let start = 0; start < count; start += chunk) {
  const n = Math.min(chunk, count - start);
  out.set(predict(graph, images.subarray(start * 784, (start + n) * 784), n), start * 10);
}
writeFileSync(outPath, Buffer.from(out.buffer));
