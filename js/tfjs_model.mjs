// Load a TF.js graph model from disk with the real @tensorflow/tfjs package (pure-JS CPU backend).
// Weights are read into tf.io.fromMemory: plain @tensorflow/tfjs has no file:// loader in Node, and
// @tensorflow/tfjs-node (which has one) downloads a native binary at install time.
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export { tf };

// 'wasm' (XNNPACK, what browsers without WebGL get) or 'cpu' (pure JS, the universal fallback).
export async function useBackend(name) {
  if (name === 'wasm') {
    const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
    setWasmPaths(`${wasmDir}/`);
  }
  await tf.setBackend(name);
  await tf.ready();
}

export async function loadGraphModelFromDisk(modelPath, backend = 'cpu') {
  const model = JSON.parse(readFileSync(modelPath, 'utf8'));
  const dir = dirname(modelPath);
  const weightSpecs = model.weightsManifest.flatMap((group) => group.weights);
  const buffers = model.weightsManifest.flatMap((group) => group.paths.map((p) => readFileSync(join(dir, p))));
  const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
  await useBackend(backend);
  return tf.loadGraphModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs, weightData }));
}

// images: Float32Array of n*28*28 -> Float32Array of n*10 probabilities.
export function predict(graph, images, n) {
  return tf.tidy(() => {
    const x = tf.tensor3d(images, [n, 28, 28], 'float32');
    const y = graph.predict({ images: x });
    return (y instanceof tf.Tensor ? y : y.probabilities ?? Object.values(y)[0]).dataSync();
  });
}
