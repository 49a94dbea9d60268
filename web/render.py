"""index.html: the index.json listing as a static page, with download links, tensors and per-runtime snippets.

The stylesheet is inlined and the page runs no script, so it renders the same from disk (file://) as served.
"""
from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from rosetta.web.catalog import Catalogue
from rosetta.web.snippets import for_model

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "templates" / "index.html"
STYLE = HERE / "static" / "style.css"


def size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def parity_text(parity: dict[str, Any]) -> str:
    parts = []
    if parity.get("max_abs_diff") is not None:
        parts.append(f"max |&Delta;| {parity['max_abs_diff']:.1e}")
    if parity.get("argmax_agreement") is not None:
        parts.append(f"argmax agreement {parity['argmax_agreement']:.2%}")
    if parity.get("accuracy") is not None and parity.get("source_accuracy") is not None:
        parts.append(f"accuracy change {(parity['accuracy'] - parity['source_accuracy']) * 100:+.2f} pp")
    if parity.get("examples"):
        parts.append(f"on {parity['examples']:,} examples")
    return ", ".join(parts) or "no parity figures in the manifest"


def quantization_text(q: dict[str, Any] | None) -> str:
    """A quantized cell's record in one line: mode, weights, calibration, the layers kept float."""
    if not q:
        return ""
    floats = q.get("float_layers") or []
    parts = [escape(str(q.get("mode", "")))]
    if q.get("per_channel"):
        parts.append("per-channel weights")
    if q.get("calibration_rows"):
        parts.append(f"calibrated on {q['calibration_rows']} rows")
    parts.append(f"{len(floats)} float layer{'s' if len(floats) != 1 else ''}" if floats else "no float layer")
    return f'<br><small class="quant">{", ".join(parts)}</small>'


def _percent(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:.2%}"


def _row(record: dict[str, Any]) -> str:
    files = "<br>".join(f'<a href="{escape(f["url"])}" download>{escape(f["url"].rsplit("/", 1)[-1])}</a>'
                        for f in record["files"])
    hashes = "<br>".join(f'<code class="hash">{f["sha256"]}</code>' for f in record["files"])
    ok = '<span class="ok">&check;</span>' if record["parity"].get("passed") else '<span class="bad">&cross;</span>'
    return (f'<tr><th scope="row">{escape(record["format"])} <small>v{int(record["version"])}</small></th>'
            f'<td>{files}</td>'
            f'<td class="num">{size(record["bytes"])}</td><td class="num">{_percent(record["accuracy"])}</td>'
            f"<td>{ok} {parity_text(record['parity'])}{quantization_text(record.get('quantization'))}"
            f"{_shapes_note(record.get('shapes'))}</td><td>{hashes}</td></tr>")


def _shapes_note(shapes: dict[str, Any] | None) -> str:
    """Free axes past the batch: the static shape this format fixed, or the sizes it was validated at."""
    if not shapes:
        return ""
    if shapes.get("static"):
        fixed = "; ".join(f"{escape(k)} {v}" for k, v in shapes["static"].items())
        return f'<br><small class="bad">static shape: {fixed}</small>'
    validated = "; ".join(f"{escape(k)} {' and '.join(map(str, v))}" for k, v in shapes.get("validated", {}).items())
    return f"<br><small>validated at {validated}</small>" if validated else ""


def _tensors(records: list[dict[str, Any]]) -> str:
    """One row per tensor and artifact: the spec's view plus what each runtime takes (dtype, int8 parameters)."""
    rows = []
    for r in records:
        for side in ("inputs", "outputs"):
            for t in r[side]:
                q = t.get("quantization")
                quant = (f'scale <code>{q["scale"]!r}</code> zero_point <code>{q["zero_point"]}</code>' if q else "")
                rows.append(f"<tr><td>{escape(r['format'])}</td><td>{side[:-1]}</td><td><code>{escape(t['name'])}"
                            f"</code></td><td>{escape(t['dtype'])}</td><td><code>{t['shape']}</code></td>"
                            f"<td>{escape(t.get('layout') or '')}</td><td>{escape(t.get('kind') or '')}</td>"
                            f"<td>{quant}</td></tr>")
    return ('<details class="tensors"><summary>Tensors per artifact (shape &minus;1: any size)</summary><table>'
            "<thead><tr><th>format</th><th>side</th><th>name</th><th>dtype</th><th>shape</th><th>layout</th>"
            f"<th>kind</th><th>int8 quantization</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>")


def _spec_line(spec: dict[str, Any]) -> str:
    def one(t: dict[str, Any]) -> str:
        extra = ", ".join(x for x in (t.get("layout"), t.get("kind")) if x)
        return f"<code>{escape(t['name'])}</code> {escape(t['datatype'])} {t['shape']}" + (f" ({escape(extra)})"
                                                                                            if extra else "")
    return (f'<p class="spec">{", ".join(map(one, spec["inputs"]))} &rarr; {", ".join(map(one, spec["outputs"]))}'
            "</p>")


def _quant_note(records: list[dict[str, Any]]) -> str:
    if not any(t.get("quantization") for r in records for t in (*r["inputs"], *r["outputs"])):
        return ""
    return ('<p class="quant"><strong>tflite-int8 takes and returns int8</strong> (parameters per tensor in the '
            "table above): quantize with <code>q = round(x / scale) + zero_point</code>, dequantize with "
            "<code>x = (q - zero_point) * scale</code>.</p>")


def _demo(model: dict[str, Any]) -> str:
    demo = model["demo"]
    if demo["available"]:
        return (f'<p class="demo-link"><a class="button" href="demo/index.html?model={quote(model["model_name"])}">'
                f'Draw a {demo["height"]}&times;{demo["width"]} input: live demo &rarr;</a></p>')
    return f'<p class="demo-link muted">No drawing demo for this model: {escape(demo["reason"])}.</p>'


def _model(catalogue: Catalogue, model: dict[str, Any]) -> str:
    archive, name = model["archive"], model["model_name"]
    snippets = "\n".join(
        f'<details><summary>{escape(s.runtime)}</summary><pre><code class="language-{s.language}">'
        f"{escape(s.code)}</code></pre></details>" for s in for_model(catalogue.model(name)))
    lane = f" <span>from {escape(model['lane'])}</span>" if model["lane"] else ""
    description = catalogue.model(name).spec.description
    return f"""<section class="model" id="model-{escape(name)}">
<h2>{escape(name)}{lane}</h2>
{f'<p>{escape(description)}</p>' if description else ''}
{_spec_line(model['spec'])}
<p class="archive"><a class="button" href="{escape(archive['url'])}" download>Download all ({size(archive['bytes'])}, zip)</a>
sha256 <code class="hash">{archive['sha256']}</code></p>
<table>
<thead><tr><th>format</th><th>files</th><th>size</th><th>accuracy</th><th>parity with source</th><th>sha256</th></tr></thead>
<tbody>
{''.join(_row(r) for r in model['artifacts'])}
</tbody>
</table>
{_tensors(model['artifacts'])}
{_quant_note(model['artifacts'])}
{_demo(model)}
<div class="snippets">
{snippets}
</div>
</section>"""


def render_index(catalogue: Catalogue, index: dict[str, Any]) -> str:
    unavailable = ""
    if index["unavailable"]:
        items = "".join(f"<li>{escape(u['model_name'])} / {escape(u['format'])}: {escape(u['reason'])}</li>"
                        for u in index["unavailable"])
        unavailable = f'<section class="unavailable"><h2>Not offered</h2><ul>{items}</ul></section>'
    versions = ", ".join(f"{escape(k)} {escape(str(v))}" for k, v in index["manifest"]["tool_versions"].items())
    runtimes = ", ".join(f"{escape(k)} {escape(v['version'])}" for k, v in index["browser_runtimes"].items())
    toc = " ".join(f'<a href="#model-{escape(m["model_name"])}">{escape(m["model_name"])}</a>' for m in index["models"])
    return Template(TEMPLATE.read_text()).substitute(
        style=STYLE.read_text(), toc=toc, count=len(index["models"]),
        models="\n".join(_model(catalogue, m) for m in index["models"]),
        unavailable=unavailable, created=escape(str(index["manifest"]["created"])),
        runtimes=runtimes, versions=versions)
