"""The export report: DIR/report.md and report.html with plots over the whole manifest, and the table row of one
cell (also the console summary's)."""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from rosetta.core import manifest
from rosetta.core.manifest import Entry
from rosetta.exporters.pipeline import SOURCE_OUTPUTS, VALIDATION_LABELS

COLUMNS = ("model", "version", "lane", "format", "status", "max |diff|", "argmax agree", "accuracy", "source acc", "size KB",
           "export s", "validate s", "path")


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def row(e: Entry) -> list[str]:
    p = e.parity
    head = [e.model_name, str(e.version), e.lane or "-", e.format, e.status]
    if not p:
        return [*head, *["-"] * 7, (e.error or "")[:80]]
    return [*head, f"{p.max_abs_diff:.2e}",
            _num(p.argmax_agreement, "{:.4f}"), _num(p.accuracy, "{:.4f}"), _num(p.source_accuracy, "{:.4f}"),
            f"{(e.bytes or 0) / 1024:.0f}", f"{e.export_seconds or 0:.1f}", f"{e.validate_seconds or 0:.1f}",
            e.path or "(not published)"]


def _bar_chart(ax, labels, values, title, fmt="{:.4f}"):
    ax.barh(labels, values, color=["#4c72b0" if v == v else "#cccccc" for v in values])
    ax.set_title(title)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        if v == v:
            ax.text(v, i, " " + fmt.format(v), va="center", fontsize=7)


def _cells_plot(artifacts_dir: Path, entries: list[Entry]) -> str | None:
    import matplotlib.pyplot as plt

    ok = [e for e in entries if e.parity is not None]
    if not ok:
        return None
    labels = [f"{e.model_name}/{e.version}/{e.format}" for e in ok]
    fig, axes = plt.subplots(1, 3, figsize=(17, 0.3 * len(ok) + 1.5))
    _bar_chart(axes[0], labels, [max(e.parity.max_abs_diff, 1e-9) for e in ok],
               "max |diff| vs source (log)", "{:.1e}")
    axes[0].set_xscale("log")
    _bar_chart(axes[1], labels, [(e.bytes or 0) / 1024 for e in ok], "size (KB)", "{:.0f}")
    _bar_chart(axes[2], labels, [e.parity.examples / max(e.validate_seconds or 0, 1e-9) for e in ok],
               "validation throughput (examples/s)", "{:.0f}")
    for ax in axes[1:]:
        ax.set_yticklabels([])
    fig.tight_layout()
    fig.savefig(artifacts_dir / "report_cells.png", dpi=100)
    plt.close(fig)
    return "report_cells.png"


def _confusion_plot(artifacts_dir: Path, entries: list[Entry]) -> str | None:
    """One confusion matrix per model whose source has a classifier output and labelled examples."""
    import matplotlib.pyplot as plt

    panels = []
    for name in sorted({e.model_name for e in entries}):
        newest = max((e for e in entries if e.model_name == name), key=lambda e: e.version)
        head = newest.spec.classifier_output
        labels, outputs = (newest.version_file(artifacts_dir, f) for f in (VALIDATION_LABELS, SOURCE_OUTPUTS))
        if head is None or not labels.is_file() or not outputs.is_file():
            continue
        with np.load(outputs) as saved:
            predicted = saved[head.name].argmax(-1)
        panels.append((f"{name} v{newest.version}", np.load(labels), predicted, head.shape[-1]))
    if not panels:
        return None
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (name, labels, predicted, classes) in zip(axes.flat, panels):
        matrix = np.zeros((classes, classes), int)
        np.add.at(matrix, (labels, predicted), 1)
        ax.imshow(np.log1p(matrix), cmap="Blues")
        if classes <= 12:
            for i in range(classes):
                for j in range(classes):
                    ax.text(j, i, matrix[i, j], ha="center", va="center", fontsize=6,
                            color="white" if i == j else "black")
        ax.set_title(f"{name}: confusion (acc {(predicted == labels).mean():.4f})", fontsize=9)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(artifacts_dir / "report_confusion.png", dpi=100)
    plt.close(fig)
    return "report_confusion.png"


BENCH_COLUMNS = ("model", "format", "runtime", "batch-1 p50 ms", "batch-1 p99 ms", "batch-N rows/s")


def _bench_rows(artifacts_dir: Path) -> list[list[str]]:
    """The latest `rosetta bench` results, if any (the bench is separate: `make bench`, not a test)."""
    path = artifacts_dir / "bench" / "bench.json"
    if not path.is_file():
        return []
    rows = json.loads(path.read_text()).get("artifacts", [])
    return [[r.get("model_name", r.get("lane", "?")), r["format"], r["runtime"], f"{r['p50_ms']:.3f}",
             f"{r['p99_ms']:.3f}", f"{r['batch_rows_per_s']:,.0f}"] for r in rows if "batch_rows_per_s" in r]


def write_report(artifacts_dir: Path) -> Path:
    """report.md and report.html over the whole manifest (not only this run's cells): each (model, format)'s
    newest ok version, or its newest attempt when none passed (manifest.latest)."""
    import matplotlib

    matplotlib.use("Agg")
    artifacts_dir = Path(artifacts_dir)
    data = manifest.load(artifacts_dir)
    entries = data.latest()
    images = [p for p in (_cells_plot(artifacts_dir, entries), _confusion_plot(artifacts_dir, entries)) if p]
    bench = _bench_rows(artifacts_dir)
    if bench:
        images.append("bench/bench.png")
    rows = [row(e) for e in entries]
    failed = [e for e in entries if not e.ok]
    md = ["# Rosetta export report", "", f"Created {data.created}; schema v{manifest.SCHEMA_VERSION}; "
          f"{len(entries) - len(failed)} of {len(entries)} cells ok.", "",
          "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", "Gates: float artifacts max |diff| <= atol (default 1e-5) and 100% argmax agreement on classifier "
           "outputs; quantized artifacts, by output kind: classifiers >= 99% argmax agreement and an accuracy drop "
           "<= 0.5 points when labels are given, multilabel label F1 >= 0.95, embeddings and regressions cosine "
           ">= 0.99 and SQNR >= 20 dB (defaults; a run's own limits are in each manifest entry). "
           "Every cell runs in its own runtime on the model's validation examples.", ""]
    if failed:
        md += ["## Cells not ok", "", "| model | version | format | status | why |", "|---|---|---|---|---|"]
        md += [f"| {e.model_name} | {e.version} | {e.format} | {e.status} | "
               f"{e.why().replace('|', '/')[:300]} |" for e in failed] + [""]
    ops = [e for e in entries if e.ops]
    if ops:
        md += ["## TFLite operators (what LiteRT will execute)", "", "| model | format | ops | histogram |",
               "|---|---|---|---|"]
        md += [f"| {e.model_name} | {e.format} | {sum(e.ops.values())} | "
               + ", ".join(f"{k} {v}" for k, v in e.ops.items()) + " |" for e in ops] + [""]
    if bench:
        md += ["## Latency and throughput (`make bench`)", "", "| " + " | ".join(BENCH_COLUMNS) + " |",
               "|" + "---|" * len(BENCH_COLUMNS)] + ["| " + " | ".join(r) + " |" for r in bench] + [""]
    md += [f"![{name}]({name})" for name in images]
    md += ["", "## Tool versions", ""] + [f"- {k}: {v}" for k, v in data.tool_versions.items()]
    (artifacts_dir / "report.md").write_text("\n".join(md) + "\n")

    tables = _html_table(COLUMNS, rows) + (f"<h2>Latency and throughput</h2>{_html_table(BENCH_COLUMNS, bench)}"
                                          if bench else "")
    pictures = "".join(f'<p><img src="{name}" style="max-width:100%"></p>' for name in images)
    (artifacts_dir / "report.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Rosetta export report</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:2px 6px;"
        "font-size:13px}table{border-collapse:collapse}</style>"
        f"<h1>Rosetta export report</h1><p>Created {html.escape(str(data.created))}</p>"
        f"{tables}{pictures}")
    return artifacts_dir / "report.md"


def _html_table(columns, rows) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"
