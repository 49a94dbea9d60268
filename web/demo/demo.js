// Rosetta browser demo: draw a digit, run one lane's TF.js graph model and its ONNX model (onnxruntime-web,
// WebAssembly) on the same 28x28 input, and show both outputs side by side.
// Test hook: window.rosetta.predictImage(pixels784[, lane]) puts an image on the pad and returns both outputs.
'use strict';

(() => {
  const SIDE = 28;
  const PIXELS = SIDE * SIDE;
  const CLASSES = 10;
  const BOX = 20; // MNIST digits were scaled into a 20x20 box, then centred by mass in 28x28
  const STROKE = 22; // pen width on the 280x280 pad: about 2 px after downsampling, like MNIST strokes
  const siteRoot = new URL('../', location.href);

  const $ = (id) => document.getElementById(id);
  const pad = $('pad');
  const padCtx = pad.getContext('2d', { willReadFrequently: true });
  const preview = $('preview');
  const previewCtx = preview.getContext('2d');
  const laneSelect = $('lane');

  let index = null;
  let digits = [];
  let current = null; // { pixels: Float32Array, digit: entry of digits.json or null }
  let lastResult = null;
  const models = new Map(); // lane -> Promise of { tfjs, onnx }
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
    ort.env.wasm.numThreads = 1; // threads need a cross-origin-isolated page; one is plenty for this MLP
    ort.env.wasm.wasmPaths = { mjs: document.querySelector('link[rel=modulepreload]').href };
    const wasm = index.browser_runtimes['onnxruntime-web'].files.find((f) => f.url.endsWith('.wasm'));
    const url = new URL(wasm.url, siteRoot);
    const response = await fetch(url, { integrity: wasm.integrity });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    ort.env.wasm.wasmBinary = await response.arrayBuffer();
  }

  const laneEntry = (lane) => index.lanes.find((l) => l.lane === lane);
  const artifactOf = (lane, format) => laneEntry(lane)?.artifacts.find((a) => a.format === format);
  const demoLanes = () => index.lanes.map((l) => l.lane).filter((l) => artifactOf(l, 'tfjs') && artifactOf(l, 'onnx'));

  async function loadModels(lane) {
    const tfjsEntry = artifactOf(lane, 'tfjs');
    const onnxEntry = artifactOf(lane, 'onnx');
    if (!tfjsEntry || !onnxEntry) throw new Error(`lane ${lane} has no tfjs and onnx artifacts`);
    const graph = await tf.loadGraphModel(new URL(tfjsEntry.url, siteRoot).href, { fetchFunc: verifiedFetch });
    const response = await verifiedFetch(new URL(onnxEntry.url, siteRoot));
    if (!response.ok) throw new Error(`${onnxEntry.url}: HTTP ${response.status}`);
    const session = await ort.InferenceSession.create(new Uint8Array(await response.arrayBuffer()),
      { executionProviders: ['wasm'] });
    const name = (spec) => spec.name.split(':')[0];
    const loaded = {
      tfjs: { graph, input: name(tfjsEntry.signature.inputs[0]) },
      onnx: { session, input: name(onnxEntry.signature.inputs[0]), output: name(onnxEntry.signature.outputs[0]) },
    };
    // one throw-away run each, so the latency shown is that of a warm model, not of its first call
    const blank = new Float32Array(PIXELS);
    await runTfjs(loaded.tfjs, blank);
    await runOnnx(loaded.onnx, blank);
    return loaded;
  }

  function modelsFor(lane) {
    if (!models.has(lane)) {
      const loading = loadModels(lane);
      loading.catch(() => models.delete(lane)); // a failed load may be retried
      models.set(lane, loading);
    }
    return models.get(lane);
  }

  async function runTfjs({ graph, input }, pixels) {
    const start = performance.now();
    const y = tf.tidy(() => {
      const out = graph.predict({ [input]: tf.tensor3d(pixels, [1, SIDE, SIDE], 'float32') });
      return out instanceof tf.Tensor ? out : Object.values(out)[0];
    });
    const probabilities = Array.from(await y.data());
    y.dispose();
    return { probabilities, ms: performance.now() - start };
  }

  async function runOnnx({ session, input, output }, pixels) {
    const start = performance.now();
    const results = await session.run({ [input]: new ort.Tensor('float32', pixels.slice(), [1, SIDE, SIDE]) });
    const probabilities = Array.from(results[output].data);
    return { probabilities, ms: performance.now() - start };
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
    const lane = laneSelect.value;
    const loaded = await modelsFor(lane);
    const tfjsOut = await runTfjs(loaded.tfjs, pixels);
    const onnxOut = await runOnnx(loaded.onnx, pixels);
    const result = { lane, tfjs: { ...tfjsOut, top: argmax(tfjsOut.probabilities) },
      onnx: { ...onnxOut, top: argmax(onnxOut.probabilities) } };
    showResult(result);
    lastResult = result;
    return result;
  }

  // --- drawing and the 28x28 input -------------------------------------------------------------------------
  function clearPad() {
    padCtx.fillStyle = '#000';
    padCtx.fillRect(0, 0, pad.width, pad.height);
    previewCtx.fillStyle = '#000';
    previewCtx.fillRect(0, 0, SIDE, SIDE);
    current = null;
    lastResult = null;
    for (const id of ['tfjs', 'onnx']) showRuntime(id, null);
    $('compare').innerHTML = '&nbsp;';
  }

  function showOnCanvases(pixels) {
    const image = new ImageData(SIDE, SIDE);
    pixels.forEach((v, i) => {
      const g = Math.round(Math.min(1, Math.max(0, v)) * 255);
      image.data.set([g, g, g, 255], i * 4);
    });
    previewCtx.putImageData(image, 0, 0);
    padCtx.imageSmoothingEnabled = false; // show the model's pixels, not a blur of them
    padCtx.drawImage(preview, 0, 0, pad.width, pad.height);
    padCtx.imageSmoothingEnabled = true;
  }

  // MNIST preparation: crop to the ink, scale into a 20x20 box (the browser filters the downscale), centre by mass.
  function padToInput() {
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
    const scale = BOX / Math.max(w, h);
    const work = document.createElement('canvas');
    work.width = SIDE; work.height = SIDE;
    const ctx = work.getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, SIDE, SIDE);
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(pad, x0, y0, w, h, (SIDE - w * scale) / 2, (SIDE - h * scale) / 2, w * scale, h * scale);
    const small = ctx.getImageData(0, 0, SIDE, SIDE).data;
    const boxed = new Float32Array(PIXELS);
    let [mass, mx, my] = [0, 0, 0];
    for (let i = 0; i < PIXELS; i += 1) {
      const v = small[i * 4] / 255;
      boxed[i] = v; mass += v; mx += v * (i % SIDE); my += v * Math.floor(i / SIDE);
    }
    const dx = Math.round((SIDE - 1) / 2 - mx / mass);
    const dy = Math.round((SIDE - 1) / 2 - my / mass);
    const pixels = new Float32Array(PIXELS);
    for (let y = 0; y < SIDE; y += 1) {
      for (let x = 0; x < SIDE; x += 1) {
        const [sx, sy] = [x - dx, y - dy];
        if (sx >= 0 && sx < SIDE && sy >= 0 && sy < SIDE) pixels[y * SIDE + x] = boxed[sy * SIDE + sx];
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
      current = { pixels, digit: null };
      const rendered = new ImageData(SIDE, SIDE);
      pixels.forEach((v, i) => rendered.data.set([v * 255, v * 255, v * 255, 255], i * 4));
      previewCtx.putImageData(rendered, 0, 0);
      await predict(pixels);
    }).catch(showError);
  }

  function enableDrawing() {
    let last = null;
    const point = (event) => {
      const rect = pad.getBoundingClientRect();
      return [(event.clientX - rect.left) * (pad.width / rect.width), (event.clientY - rect.top) * (pad.height / rect.height)];
    };
    pad.addEventListener('pointerdown', (event) => {
      pad.setPointerCapture(event.pointerId);
      last = point(event);
      padCtx.fillStyle = '#fff';
      padCtx.beginPath();
      padCtx.arc(last[0], last[1], STROKE / 2, 0, 2 * Math.PI);
      padCtx.fill();
    });
    pad.addEventListener('pointermove', (event) => {
      if (!last) return;
      const next = point(event);
      Object.assign(padCtx, { strokeStyle: '#fff', lineWidth: STROKE, lineCap: 'round', lineJoin: 'round' });
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
    bars.replaceChildren(...Array.from({ length: CLASSES }, (_, digit) => {
      const p = out ? out.probabilities[digit] : 0;
      const li = document.createElement('li');
      li.className = out && digit === out.top ? 'best' : '';
      li.innerHTML = `<span>${digit}</span><span class="track"><span class="fill"></span></span><span class="value"></span>`;
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
    const agree = result.tfjs.top === result.onnx.top ? `both say <strong>${result.tfjs.top}</strong>` : '<strong>they disagree</strong>';
    let text = `Lane ${result.lane}: ${agree}; max |TF.js &minus; ORT| = ${maxAbsDiff(result.tfjs.probabilities, result.onnx.probabilities).toExponential(1)}.`;
    const reference = current?.digit?.reference?.[result.lane];
    if (reference) {
      text += ` MNIST test image #${current.digit.index} (label ${current.digit.label}): the Python ${result.lane} model says ${argmax(reference)};`
        + ` max |&Delta;| TF.js ${maxAbsDiff(result.tfjs.probabilities, reference).toExponential(1)},`
        + ` ORT ${maxAbsDiff(result.onnx.probabilities, reference).toExponential(1)}.`;
    }
    $('compare').innerHTML = text;
  }

  function showError(error) {
    console.error(error);
    setStatus(`Error: ${error.message ?? error}`, 'error');
  }

  // --- lanes, test digits, public hook -------------------------------------------------------------------
  async function setLane(lane) {
    if (!demoLanes().includes(lane)) throw new Error(`unknown lane ${lane}; have ${demoLanes().join(', ')}`);
    laneSelect.value = lane;
    setStatus(`Loading the ${lane} models…`);
    await modelsFor(lane);
    for (const id of ['tfjs', 'onnx']) {
      const a = artifactOf(lane, id);
      const runtime = id === 'tfjs' ? `TF.js ${tf.version.tfjs}, ${tf.getBackend()} backend` : `onnxruntime-web ${ort.env.versions.web}, wasm`;
      $(id).querySelector('[data-role=meta]').textContent = `${a.url} (${(a.bytes / 1e3).toFixed(0)} kB) · ${runtime}`;
    }
    setStatus(`Ready: lane ${lane}. Draw on the pad or load a test digit.`, 'ready');
  }

  function toPixels(values) {
    const pixels = Float32Array.from(values);
    if (pixels.length !== PIXELS) throw new Error(`expected ${PIXELS} pixel values, got ${pixels.length}`);
    if (pixels.some((v) => !(v >= 0 && v <= 1))) throw new Error('pixel values must lie in [0, 1]');
    return pixels;
  }

  function predictImage(values, lane, digit = null) {
    const pixels = toPixels(values);
    return enqueue(async () => {
      if (lane && lane !== laneSelect.value) await setLane(lane);
      current = { pixels, digit };
      showOnCanvases(pixels);
      return predict(pixels);
    });
  }

  function loadDigit(position, lane) {
    const digit = digits[position];
    if (!digit) throw new Error(`no test digit #${position}; digits.json has ${digits.length}`);
    return predictImage(digit.pixels.map((v) => v / 255), lane, digit);
  }

  function renderDigitButtons() {
    $('digits').replaceChildren(...digits.map((d, position) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = String(d.label);
      button.title = `MNIST test image #${d.index}, label ${d.label}`;
      button.dataset.position = String(position);
      button.addEventListener('click', () => loadDigit(position).catch(showError));
      return button;
    }));
  }

  async function start() {
    clearPad();
    index = await fetchJson(new URL('index.json', siteRoot));
    for (const lane of index.lanes) {
      for (const a of lane.artifacts) for (const f of a.files) integrity.set(new URL(f.url, siteRoot).href, hexToSri(f.sha256));
    }
    laneSelect.replaceChildren(...demoLanes().map((lane) => new Option(lane, lane)));
    if (!laneSelect.options.length) throw new Error('index.json lists no lane with both tfjs and onnx artifacts');
    await initRuntimes();
    digits = (await fetchJson('digits.json').catch(() => ({ images: [] }))).images;
    renderDigitButtons();
    const params = new URLSearchParams(location.search);
    await setLane(params.get('lane') ?? laneSelect.options[0].value);
    laneSelect.disabled = false;
    laneSelect.addEventListener('change', () => {
      enqueue(async () => {
        await setLane(laneSelect.value);
        if (current) await predict(current.pixels);
      }).catch(showError);
    });
    $('clear').addEventListener('click', () => enqueue(clearPad));
    enableDrawing();
    if (params.has('digit')) await loadDigit(Number(params.get('digit')));
  }

  const ready = start();
  ready.catch(showError);
  window.rosetta = {
    ready,
    lanes: () => demoLanes(),
    setLane: (lane) => enqueue(() => setLane(lane)),
    predictImage: (pixels, lane) => ready.then(() => predictImage(pixels, lane)),
    loadDigit: (position, lane) => ready.then(() => loadDigit(position, lane)),
    lastInput: () => (current ? Array.from(current.pixels) : null),
    // resolves when every queued inference (drawing included) has finished, with the latest result
    idle: () => queue.then(() => lastResult),
  };
})();
