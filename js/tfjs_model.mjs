// Load a TF.js graph model from disk with the real @tensorflow/tfjs package, and run it on named tensors.
// Weights are read into tf.io.fromMemory: plain @tensorflow/tfjs has no file:// loader in Node, and
// @tensorflow/tfjs-node (which has one) downloads a native binary at install time.
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { readFileSync, writeFileSync } from 'node:fs';
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
  return tf.loadGraphModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs, weightData,
    signature: model.signature, userDefinedMetadata: model.userDefinedMetadata }));
}

// TF.js has no 64-bit tensors: the Python side sends int64 as int32 (see exporters/runtimes.py).
const ARRAYS = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

// A job written by exporters/runtimes.py: {count, inputs: [{name, dtype, shape, file}], outputs: [{name, file}]},
// each file the raw little-endian rows of one tensor, batch first.
export function readJob(jobPath) {
  const job = JSON.parse(readFileSync(jobPath, 'utf8'));
  for (const input of job.inputs) {
    const raw = readFileSync(input.file);
    const Array = ARRAYS[input.dtype];
    if (!Array) throw new Error(`input ${input.name}: dtype ${input.dtype} not supported by TF.js`);
    input.data = new Array(raw.buffer, raw.byteOffset, raw.byteLength / Array.BYTES_PER_ELEMENT);
    input.rowSize = input.shape.reduce((a, b) => a * b, 1);
    if (input.data.length !== job.count * input.rowSize) {
      throw new Error(`input ${input.name}: ${input.data.length} values, expected ${job.count} x [${input.shape}]`);
    }
  }
  return job;
}

// Rows [start, start + n) of every input -> {outputName: {data, shape, dtype}}.
export function predictRows(graph, job, start, n) {
  return tf.tidy(() => {
    const feeds = {};
    for (const input of job.inputs) {
      const rows = input.data.subarray(start * input.rowSize, (start + n) * input.rowSize);
      feeds[input.name] = tf.tensor(rows, [n, ...input.shape], input.dtype);
    }
    const result = graph.predict(feeds);
    const named = namedOutputs(result, job.outputs.map((o) => o.name), graph.outputNodes);
    return Object.fromEntries(job.outputs.map(({ name }) => {
      const t = named[name];
      if (!t) throw new Error(`output ${name} missing; the model gave ${Object.keys(named)}`);
      return [name, { data: t.dataSync(), shape: t.shape, dtype: t.dtype }];
    }));
  });
}

// predict() gives a tensor (one output), an object keyed by signature output names, or an array in the order of
// graph.outputNodes (signature keys when the model has a signature), which need not be the spec's order.
function namedOutputs(result, names, outputNodes) {
  if (result instanceof tf.Tensor) return { [names[0]]: result };
  if (Array.isArray(result)) {
    return Object.fromEntries(outputNodes.map((node, i) => [node.split(':')[0], result[i]]));
  }
  return Object.fromEntries(Object.entries(result).map(([k, v]) => [k.split(':')[0], v]));
}

export function writeOutputs(job, chunks) {
  const shapes = {};
  for (const output of job.outputs) {
    const parts = chunks.map((c) => c[output.name]);
    writeFileSync(output.file, Buffer.concat(parts.map((p) => Buffer.from(p.data.buffer, p.data.byteOffset,
      p.data.byteLength))));
    shapes[output.name] = { shape: parts[0].shape.slice(1), dtype: parts[0].dtype };
  }
  return shapes;
}
