// Rosetta browser demo: draw an input, run one model's TF.js graph model and its ONNX model (onnxruntime-web,
// WebAssembly) on it, and show both outputs side by side. Everything about the model (input name, layout,
// height and width, output name, class count) comes from index.json, i.e. from the export manifest's spec.
// Test hook: window.rosetta.predictImage(values[, model]) puts an input on the pad and returns both outputs.
'use strict';

(() => {
  const PAD_SIDE = 280; // CSS pixels of the pad's longer side
  const BOX_FRACTION = 5 / 7; // the drawing is scaled into this share of the input, as MNIST digits were
  const siteRoot = new URL('../', location.href);

  const $ = (id) => document.getElementById(id);
  const pad = $('pad');
  const padCtx = pad.getContext('2d', { willReadFrequently: true });
  const preview = $('preview');
  const previewCtx = preview.getContext('2d');
  const modelSelect = $('model');

  let index = null;
  let plan = null; // the selected model's demo plan from index.json: input, output, height, width, shape, classes, kind
  let examples = [];
  let current = null; // { pixels: Float32Array, example: item of the examples file or null }
  let lastResult = null;
  const models = new Map(); // model name -> Promise of { tfjs, onnx }
  const integrity = new Map(); // absolute URL -> SRI string from index.json (the manifest's sha256)

  const setStatus = (text, state) => {
    $('status').textContent = text;
    if (state) document.documentElement.dataset.state = state;
  };

  const hexToSri = (hex) => `sha256-${btoa(String.fromCharCode(...hex.match(/../g).map((h) => parseInt(h, 16))))}`;

  // Every model byte is fetched with the sha256 the export manifest recorded: a stale or corrupt copy fails loudly.
  const verifiedFetch = (url, init = {}) => {
    const href = new URL(url, location.href).href;
    return fetch(href, { ...init, integrity: integrity.get(href) ?? '' });
  };

  async function fetchJson(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  // --- runtimes ------------------------------------------------------------------------------------------
  async function initRuntimes() {
    await tf.setBackend('cpu'); // no WebGL needed (nor available headless without a GPU)
    await tf.ready();
    ort.env.wasm.numThreads = 1; // threads need a cross-origin-isolated page; one is plenty here
    ort.env.wasm.wasmPaths = { mjs: document.querySelector('link[rel=modulepreload]').href };
    const wasm = index.browser_runtimes['onnxruntime-web'].files.find((f) => f.url.endsWith('.wasm'));
    const url = new URL(wasm.url, siteRoot);
    const response = await fetch(url, { integrity: wasm.integrity });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    ort.env.wasm.wasmBinary = await response.arrayBuffer();
  }

  const modelEntry = (name) => index.models.find((m) => m.model_name === name);
  const artifactOf = (name, format) => modelEntry(name)?.artifacts.find((a) => a.format === format);
  const demoModels = () => index.models.filter((m) => m.demo.available).map((m) => m.model_name);
  const pixelCount = (p) => p.height * p.width;

  async function loadModels(name) {
    const p = modelEntry(name).demo;
    const graph = await tf.loadGraphModel(new URL(artifactOf(name, 'tfjs').url, siteRoot).href,
      { fetchFunc: verifiedFetch });
    const onnxEntry = artifactOf(name, 'onnx');
    const response = await verifiedFetch(new URL(onnxEntry.url, siteRoot));
    if (!response.ok) throw new Error(`${onnxEntry.url}: HTTP ${response.status}`);
    const session = await ort.InferenceSession.create(new Uint8Array(await response.arrayBuffer()),
      { executionProviders: ['wasm'] });
    const loaded = { plan: p, tfjs: graph, onnx: session };
    // one throw-away run each, so the latency shown is that of a warm model, not of its first call
    const blank = new Float32Array(pixelCount(p));
    await runTfjs(loaded, blank);
    await runOnnx(loaded, blank);
    return loaded;
  }

  function modelsFor(name) {
    if (!models.has(name)) {
      const loading = loadModels(name);
      loading.catch(() => models.delete(name)); // a failed load may be retried
      models.set(name, loading);
    }
    return models.get(name);
  }

  const softmax = (values) => {
    const m = Math.max(...values);
    const e = values.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };

  function outcome(values, kind, ms) {
    return { values, probabilities: kind === 'logits' ? softmax(values) : values, top: argmax(values), ms };
  }

  async function runTfjs({ plan: p, tfjs }, pixels) {
    const start = performance.now();
    const y = tf.tidy(() => tfjs.execute({ [p.input]: tf.tensor(pixels, p.shape, 'float32') }, [p.output]));
    const values = Array.from(await y.data());
    y.dispose();
    return outcome(values, p.kind, performance.now() - start);
  }

  async function runOnnx({ plan: p, onnx }, pixels) {
    const start = performance.now();
    const results = await onnx.run({ [p.input]: new ort.Tensor('float32', pixels.slice(), p.shape) });
    return outcome(Array.from(results[p.output].data), p.kind, performance.now() - start);
  }

  const argmax = (values) => values.reduce((best, v, i) => (v > values[best] ? i : best), 0);
  const maxAbsDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

  // One inference at a time: an ORT session must not run twice at once, and drawing fires many events.
  let queue = Promise.resolve();
  const enqueue = (task) => {
    const run = queue.then(task);
    queue = run.catch(() => {});
    return run;
  };

  async function predict(pixels) {
    const name = modelSelect.value;
    const loaded = await modelsFor(name);
    const result = { model: name, tfjs: await runTfjs(loaded, pixels), onnx: await runOnnx(loaded, pixels) };
    showResult(result);
    lastResult = result;
    return result;
  }

  // --- drawing and the model input ---------------------------------------------------------------------------
  function sizeCanvases() {
    const scale = Math.max(1, Math.floor(PAD_SIDE / Math.max(plan.height, plan.width)));
    pad.width = plan.width * scale;
    pad.height = plan.height * scale;
    pad.style.width = `${pad.width}px`;
    pad.style.height = `${pad.height}px`;
    preview.width = plan.width;
    preview.height = plan.height;
    pad.dataset.scale = String(scale);
  }

  function clearPad() {
    padCtx.fillStyle = '#000';
    padCtx.fillRect(0, 0, pad.width, pad.height);
    previewCtx.fillStyle = '#000';
    previewCtx.fillRect(0, 0, preview.width, preview.height);
    current = null;
    lastResult = null;
    for (const id of ['tfjs', 'onnx']) showRuntime(id, null);
    $('compare').innerHTML = '&nbsp;';
  }

  function showOnCanvases(pixels) {
    const image = new ImageData(plan.width, plan.height);
    pixels.forEach((v, i) => {
      const g = Math.round(Math.min(1, Math.max(0, v)) * 255);
      image.data.set([g, g, g, 255], i * 4);
    });
    previewCtx.putImageData(image, 0, 0);
    padCtx.imageSmoothingEnabled = false; // show the model's pixels, not a blur of them
    padCtx.drawImage(preview, 0, 0, pad.width, pad.height);
    padCtx.imageSmoothingEnabled = true;
  }

  // Prepared as MNIST digits were: crop to the ink, scale into the centre box (the browser filters the downscale),
  // centre by mass. The result is H x W grey values in [0, 1], row-major: the same bytes for every layout
  // the demo accepts (NHW, NHWC with C = 1, NCHW with C = 1).
  function padToInput() {
    const { height: H, width: W } = plan;
    const { data, width, height } = padCtx.getImageData(0, 0, pad.width, pad.height);
    let [x0, y0, x1, y1] = [width, height, -1, -1];
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        if (data[(y * width + x) * 4] > 24) {
          x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
        }
      }
    }
    if (x1 < 0) return null;
    const [w, h] = [x1 - x0 + 1, y1 - y0 + 1];
    const scale = Math.max(1, Math.round(Math.min(H, W) * BOX_FRACTION)) / Math.max(w, h);
    const work = document.createElement('canvas');
    work.width = W; work.height = H;
    const ctx = work.getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, W, H);
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(pad, x0, y0, w, h, (W - w * scale) / 2, (H - h * scale) / 2, w * scale, h * scale);
    const small = ctx.getImageData(0, 0, W, H).data;
    const boxed = new Float32Array(H * W);
    let [mass, mx, my] = [0, 0, 0];
    for (let i = 0; i < H * W; i += 1) {
      const v = small[i * 4] / 255;
      boxed[i] = v; mass += v; mx += v * (i % W); my += v * Math.floor(i / W);
    }
    const dx = mass > 0 ? Math.round((W - 1) / 2 - mx / mass) : 0;
    const dy = mass > 0 ? Math.round((H - 1) / 2 - my / mass) : 0;
    const pixels = new Float32Array(H * W);
    for (let y = 0; y < H; y += 1) {
      for (let x = 0; x < W; x += 1) {
        const [sx, sy] = [x - dx, y - dy];
        if (sx >= 0 && sx < W && sy >= 0 && sy < H) pixels[y * W + x] = boxed[sy * W + sx];
      }
    }
    return pixels;
  }

  // Drawing fires faster than inference: keep at most one pad prediction waiting.
  let padPending = false;
  function predictFromPad() {
    if (padPending) return;
    padPending = true;
    enqueue(async () => {
      padPending = false;
      const pixels = padToInput();
      if (!pixels) return;
      current = { pixels, example: null };
      const rendered = new ImageData(plan.width, plan.height);
      pixels.forEach((v, i) => rendered.data.set([v * 255, v * 255, v * 255, 255], i * 4));
      previewCtx.putImageData(rendered, 0, 0);
      await predict(pixels);
    }).catch(showError);
  }

  function enableDrawing() {
    let last = null;
    const stroke = () => Number(pad.dataset.scale) * Math.max(1.5, Math.min(plan.height, plan.width) / 14);
    const point = (event) => {
      const rect = pad.getBoundingClientRect();
      return [(event.clientX - rect.left) * (pad.width / rect.width), (event.clientY - rect.top) * (pad.height / rect.height)];
    };
    pad.addEventListener('pointerdown', (event) => {
      pad.setPointerCapture(event.pointerId);
      last = point(event);
      padCtx.fillStyle = '#fff';
      padCtx.beginPath();
      padCtx.arc(last[0], last[1], stroke() / 2, 0, 2 * Math.PI);
      padCtx.fill();
    });
    pad.addEventListener('pointermove', (event) => {
      if (!last) return;
      const next = point(event);
      Object.assign(padCtx, { strokeStyle: '#fff', lineWidth: stroke(), lineCap: 'round', lineJoin: 'round' });
      padCtx.beginPath();
      padCtx.moveTo(...last);
      padCtx.lineTo(...next);
      padCtx.stroke();
      last = next;
      predictFromPad();
    });
    const end = () => {
      if (!last) return;
      last = null;
      predictFromPad();
    };
    pad.addEventListener('pointerup', end);
    pad.addEventListener('pointercancel', end);
  }

  // --- results -----------------------------------------------------------------------------------------------
  function showRuntime(id, out) {
    const panel = $(id);
    const bars = panel.querySelector('[data-role=bars]');
    bars.replaceChildren(...Array.from({ length: plan ? plan.classes : 0 }, (_, cls) => {
      const p = out ? out.probabilities[cls] : 0;
      const li = document.createElement('li');
      li.className = out && cls === out.top ? 'best' : '';
      li.innerHTML = '<span></span><span class="track"><span class="fill"></span></span><span class="value"></span>';
      li.firstChild.textContent = String(cls);
      li.querySelector('.fill').style.width = `${(p * 100).toFixed(2)}%`;
      li.querySelector('.value').textContent = out ? `${(p * 100).toFixed(2)}%` : '';
      return li;
    }));
    panel.querySelector('[data-role=top]').textContent = out ? String(out.top) : '–';
    panel.querySelector('[data-role=confidence]').textContent = out ? `${(out.probabilities[out.top] * 100).toFixed(1)}%` : '';
    panel.querySelector('[data-role=latency]').textContent = out ? `inference ${out.ms.toFixed(2)} ms` : '\u00a0';
  }

  function showResult(result) {
    showRuntime('tfjs', result.tfjs);
    showRuntime('onnx', result.onnx);
    const agree = result.tfjs.top === result.onnx.top ? `both say class <strong>${result.tfjs.top}</strong>` : '<strong>they disagree</strong>';
    let text = `${result.model}: ${agree}; max |TF.js &minus; ORT| = ${maxAbsDiff(result.tfjs.values, result.onnx.values).toExponential(1)}.`;
    const example = current?.example;
    if (example?.reference) {
      const label = example.label === null ? '' : ` (label ${example.label})`;
      text += ` Validation example #${example.index}${label}: the Python source model says ${argmax(example.reference)};`
        + ` max |&Delta;| TF.js ${maxAbsDiff(result.tfjs.values, example.reference).toExponential(1)},`
        + ` ORT ${maxAbsDiff(result.onnx.values, example.reference).toExponential(1)}.`;
    }
    $('compare').innerHTML = text;
  }

  function showError(error) {
    console.error(error);
    setStatus(`Error: ${error.message ?? error}`, 'error');
  }

  // --- models, examples, public hook ---------------------------------------------------------------------
  async function setModel(name) {
    if (!demoModels().includes(name)) throw new Error(`no demo for model ${name}; have ${demoModels().join(', ')}`);
    modelSelect.value = name;
    setStatus(`Loading ${name}…`);
    await modelsFor(name);
    plan = modelEntry(name).demo;
    sizeCanvases();
    clearPad();
    const url = plan.examples;
    examples = url ? (await fetchJson(new URL(url, siteRoot)).catch(() => ({ items: [] }))).items : [];
    renderExampleButtons();
    for (const id of ['tfjs', 'onnx']) {
      const a = artifactOf(name, id);
      const runtime = id === 'tfjs' ? `TF.js ${tf.version.tfjs}, ${tf.getBackend()} backend` : `onnxruntime-web ${ort.env.versions.web}, wasm`;
      $(id).querySelector('[data-role=meta]').textContent = `${a.url} (${(a.bytes / 1e3).toFixed(0)} kB) · ${runtime}`;
    }
    setStatus(`Ready: ${name}, input ${plan.input} ${plan.height}×${plan.width}, ${plan.classes} classes. `
      + 'Draw on the pad or load an example.', 'ready');
  }

  function toPixels(values) {
    const pixels = Float32Array.from(values);
    if (pixels.length !== pixelCount(plan)) throw new Error(`expected ${pixelCount(plan)} values, got ${pixels.length}`);
    if (pixels.some((v) => !(v >= 0 && v <= 1))) throw new Error('values must lie in [0, 1]');
    return pixels;
  }

  function predictImage(values, name, example = null) {
    return enqueue(async () => {
      if (name && name !== modelSelect.value) await setModel(name);
      const pixels = toPixels(values);
      current = { pixels, example };
      showOnCanvases(pixels);
      return predict(pixels);
    });
  }

  function loadExample(position, name) {
    return enqueue(async () => {
      if (name && name !== modelSelect.value) await setModel(name);
      const example = examples[position];
      if (!example) throw new Error(`no example #${position}; this model has ${examples.length}`);
      const pixels = toPixels(example.values);
      current = { pixels, example };
      showOnCanvases(pixels);
      return predict(pixels);
    });
  }

  function renderExampleButtons() {
    $('examples-label').hidden = examples.length === 0;
    $('digits').replaceChildren(...examples.map((e, position) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = e.label === null ? `#${e.index}` : String(e.label);
      button.title = `validation example #${e.index}` + (e.label === null ? '' : `, label ${e.label}`);
      button.addEventListener('click', () => loadExample(position).catch(showError));
      return button;
    }));
  }

  async function start() {
    index = await fetchJson(new URL('index.json', siteRoot));
    for (const m of index.models) {
      for (const a of m.artifacts) for (const f of a.files) integrity.set(new URL(f.url, siteRoot).href, hexToSri(f.sha256));
    }
    modelSelect.replaceChildren(...demoModels().map((name) => new Option(name, name)));
    if (!modelSelect.options.length) {
      throw new Error('no model here fits the drawing demo (one grey image input, one classifier output, '
        + 'tfjs and onnx artifacts); the download page says why for each');
    }
    await initRuntimes();
    const params = new URLSearchParams(location.search);
    await setModel(params.get('model') ?? modelSelect.options[0].value);
    modelSelect.disabled = false;
    modelSelect.addEventListener('change', () => {
      enqueue(() => setModel(modelSelect.value)).catch(showError);
    });
    $('clear').addEventListener('click', () => enqueue(clearPad));
    enableDrawing();
    if (params.has('example')) await loadExample(Number(params.get('example')));
  }

  const ready = start();
  ready.catch(showError);
  window.rosetta = {
    ready,
    models: () => demoModels(),
    plan: () => plan,
    setModel: (name) => enqueue(() => setModel(name)),
    predictImage: (values, name) => ready.then(() => predictImage(values, name)),
    loadExample: (position, name) => ready.then(() => loadExample(position, name)),
    lastInput: () => (current ? Array.from(current.pixels) : null),
    // resolves when every queued inference (drawing included) has finished, with the latest result
    idle: () => queue.then(() => lastResult),
  };
})();
