// Run a TF.js graph model in Node with the real @tensorflow/tfjs package (pure-JS CPU backend).
// usage: node tfjs_predict.mjs <model.json> <images.f32> <count> <out.f32>
// Weights are read from disk into tf.io.fromMemory: plain @tensorflow/tfjs has no file:// loader in Node,
// and @tensorflow/tfjs-node (which has one) downloads a native binary at install time.
import * as tf from '@tensorflow/tfjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [modelPath, imagesPath, countText, outPath] = process.argv.slice(2);
const count = Number.parseInt(countText, 10);
const model = JSON.parse(readFileSync(modelPath, 'utf8'));
const dir = dirname(modelPath);
const weightSpecs = model.weightsManifest.flatMap((group) => group.weights);
const buffers = model.weightsManifest.flatMap((group) => group.paths.map((p) => readFileSync(join(dir, p))));
const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;

await tf.setBackend('cpu');
const graph = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs, weightData }));
const raw = readFileSync(imagesPath);
const images = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
if (images.length !== count * 28 * 28) throw new Error(`expected ${count}x28x28 floats, got ${images.length}`);

const out = new Float32Array(count * 10);
const chunk = 1000;
for (let start = 0; start < count; start += chunk) {
  const n = Math.min(chunk, count - start);
  const probs = tf.tidy(() => {
    const x = tf.tensor3d(images.subarray(start * 784, (start + n) * 784), [n, 28, 28], 'float32');
    const y = graph.predict({ images: x });
    return (y instanceof tf.Tensor ? y : y.probabilities ?? Object.values(y)[0]).dataSync();
  });
  out.set(probs, start * 10);
}
writeFileSync(outPath, Buffer.from(out.buffer));
