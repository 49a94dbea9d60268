// Time a TF.js graph model in Node: batch-1 latencies and batch-N throughput over a job's rows, JSON on stdout.
// usage: node tfjs_bench.mjs <model.json> <job.json> <seconds-per-measure> [wasm|cpu]
import { performance } from 'node:perf_hooks';
import { loadGraphModelFromDisk, predictRows, readJob } from './tfjs_model.mjs';

const [modelPath, jobPath, secondsText, backend = 'wasm'] = process.argv.slice(2);
const budgetMs = Number.parseFloat(secondsText) * 1000;
const graph = await loadGraphModelFromDisk(modelPath, backend);
const job = readJob(jobPath);

const latenciesMs = [];
for (let i = 0; i < 20; i += 1) predictRows(graph, job, 0, 1); // warm-up
let start = performance.now();
for (let i = 0; latenciesMs.length < 5000 && performance.now() - start < budgetMs; i = (i + 1) % job.count) {
  const t = performance.now();
  predictRows(graph, job, i, 1);
  latenciesMs.push(performance.now() - t);
}
const batch = job.count;
let done = 0;
start = performance.now();
while (done < batch * 200 && performance.now() - start < budgetMs) {
  predictRows(graph, job, 0, batch);
  done += batch;
}
const seconds = (performance.now() - start) / 1000;
process.stdout.write(JSON.stringify({ latencies_ms: latenciesMs, batch_images: done, batch_seconds: seconds }));
