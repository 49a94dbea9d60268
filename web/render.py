"""index.html: the index.json table as a static page, with download links and per-runtime load snippets."""
from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template
from typing import Any

from web.catalog import Catalogue
from web.snippets import for_lane

TEMPLATE = Path(__file__).resolve().parent / "templates" / "index.html"


def size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def parity_text(fmt: str, parity: dict[str, Any]) -> str:
    agree = f"argmax agreement {parity['argmax_agreement']:.2%}"
    if fmt == "tflite-int8":
        drop = (parity.get("source_accuracy", parity["accuracy"]) - parity["accuracy"]) * 100
        return f"{agree}, accuracy change {-drop:+.2f} pp"
    return f"max |&Delta;| {parity['max_abs_diff']:.1e}, {agree}"


def _row(record: dict[str, Any]) -> str:
    files = "<br>".join(f'<a href="{escape(f["url"])}" download>{escape(f["url"].rsplit("/", 1)[-1])}</a>'
                        for f in record["files"])
    hashes = "<br>".join(f'<code class="hash">{f["sha256"]}</code>' for f in record["files"])
    ok = "&check;" if record["parity"].get("passed") else "&cross;"
    return (f'<tr><th scope="row">{escape(record["format"])}</th><td>{files}</td>'
            f'<td class="num">{size(record["bytes"])}</td><td class="num">{record["accuracy"]:.2%}</td>'
            f'<td><span class="ok">{ok}</span> {parity_text(record["format"], record["parity"])}</td>'
            f"<td>{hashes}</td></tr>")


def _quantization(records: list[dict[str, Any]]) -> str:
    q = next((r["quantization"] for r in records if r.get("quantization")), None)
    if not q:
        return ""
    parts = [f'{side} scale <code>{p["scale"]!r}</code> zero_point <code>{p["zero_point"]}</code>'
             for side, p in q.items()]
    return (f'<p class="quant"><strong>tflite-int8 takes and returns int8:</strong> {"; ".join(parts)}. '
            "Quantize with <code>q = round(x / scale) + zero_point</code>, dequantize with "
            "<code>x = (q - zero_point) * scale</code>.</p>")


def _lane(catalogue: Catalogue, lane: dict[str, Any]) -> str:
    archive = lane["archive"]
    snippets = "\n".join(
        f'<details><summary>{escape(s.runtime)}</summary><pre><code class="language-{s.language}">'
        f"{escape(s.code)}</code></pre></details>" for s in for_lane(catalogue, lane["lane"]))
    return f"""<section class="lane" id="lane-{escape(lane['lane'])}">
<h2>{escape(lane['lane'])} <span>{escape(lane['model_name'])}</span></h2>
<p class="archive"><a class="button" href="{escape(archive['url'])}" download>Download all ({size(archive['bytes'])}, zip)</a>
sha256 <code class="hash">{archive['sha256']}</code></p>
<table>
<thead><tr><th>format</th><th>files</th><th>size</th><th>test accuracy</th><th>parity with source</th><th>sha256</th></tr></thead>
<tbody>
{''.join(_row(r) for r in lane['artifacts'])}
</tbody>
</table>
{_quantization(lane['artifacts'])}
<div class="snippets">
{snippets}
</div>
</section>"""


def render_index(catalogue: Catalogue, index: dict[str, Any]) -> str:
    unavailable = ""
    if index["unavailable"]:
        items = "".join(f"<li>{escape(u['lane'])} / {escape(u['format'])}: {escape(u['reason'])}</li>"
                        for u in index["unavailable"])
        unavailable = f'<section class="unavailable"><h2>Not offered</h2><ul>{items}</ul></section>'
    versions = ", ".join(f"{escape(k)} {escape(str(v))}" for k, v in index["manifest"]["tool_versions"].items())
    runtimes = ", ".join(f"{escape(k)} {escape(v['version'])}" for k, v in index["browser_runtimes"].items())
    return Template(TEMPLATE.read_text()).substitute(
        lanes="\n".join(_lane(catalogue, lane) for lane in index["lanes"]),
        unavailable=unavailable, created=escape(str(index["manifest"]["created"])),
        runtimes=runtimes, versions=versions)
