// Run a TF.js graph model in Node over every row of a job (see tfjs_model.mjs: readJob); prints the output
// shapes and dtypes as JSON.  usage: node tfjs_predict.mjs <model.json> <job.json> [wasm|cpu]
import { loadGraphModelFromDisk, predictRows, readJob, writeOutputs } from './tfjs_model.mjs';

const [modelPath, jobPath, backend = 'wasm'] = process.argv.slice(2);
const graph = await loadGraphModelFromDisk(modelPath, backend);
const job = readJob(jobPath);
const chunk = job.chunk ?? 1000;
const chunks = [];
for (let start = 0; start < job.count; start += chunk) {
  chunks.push(predictRows(graph, job, start, Math.min(chunk, job.count - start)));
}
process.stdout.write(JSON.stringify(writeOutputs(job, chunks)));
