"""The export summary: a console table, artifacts/report.md and report.html with plots."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from exporters import manifest
from exporters.pipeline import SOURCE_PROBABILITIES
from rosetta import contract
from rosetta.data import load_split

COLUMNS = ("lane", "format", "status", "max |diff|", "argmax agree", "accuracy", "source acc", "size KB",
           "export s", "validate s", "path")


def _row(e: dict[str, Any]) -> list[str]:
    p = e.get("parity")
    if not p:
        return [e["lane"], e["format"], e["status"], *["-"] * 7, e.get("error", "")[:60]]
    return [e["lane"], e["format"], e["status"], f"{p['max_abs_diff']:.2e}", f"{p['argmax_agreement']:.4f}",
            f"{p['accuracy']:.4f}", f"{p['source_accuracy']:.4f}", f"{e['bytes'] / 1024:.0f}",
            f"{e['export_seconds']:.1f}", f"{e['validate_seconds']:.1f}", e["path"]]


def print_summary(console: Console, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Print the matrix and, if any cell failed, a table of the failures; return the failed entries."""
    table = Table(title=f"export matrix ({len(entries)} cells)")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for e in entries:
        row = _row(e)
        row[2] = f"[{'green' if e['status'] == 'ok' else 'red'}]{row[2]}[/]"
        table.add_row(*row)
    console.print(table)
    failed = [e for e in entries if e["status"] != "ok"]
    if failed:
        bad = Table(title=f"[red]{len(failed)} cell(s) failed[/]")
        for column in ("lane", "format", "why"):
            bad.add_column(column, overflow="fold")
        for e in failed:
            why = "; ".join(e["parity"]["failures"]) if "parity" in e else e.get("error", "")
            bad.add_row(e["lane"], e["format"], why)
        console.print(bad)
    return failed


def _bar_chart(ax, labels, values, title, fmt="{:.4f}", xlim=None):
    ax.barh(labels, values, color=["#4c72b0" if v == v else "#cccccc" for v in values])
    ax.set_title(title)
    ax.invert_yaxis()
    if xlim:
        ax.set_xlim(*xlim)
    for i, v in enumerate(values):
        ax.text(v, i, " " + fmt.format(v), va="center", fontsize=7)


def _plots(artifacts_dir: Path, entries: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [e for e in entries if "parity" in e]
    labels = [f"{e['lane']}/{e['format']}" for e in ok]
    fig, axes = plt.subplots(1, 3, figsize=(16, 0.35 * len(ok) + 1.5))
    _bar_chart(axes[0], labels, [e["parity"]["accuracy"] for e in ok], "test accuracy", xlim=(0.97, 0.99))
    _bar_chart(axes[1], labels, [e["bytes"] / 1024 for e in ok], "size (KB)", "{:.0f}")
    _bar_chart(axes[2], labels, [e["parity"]["images"] / e["validate_seconds"] for e in ok],
               "validation throughput (images/s, 10k images, batches of 1000)", "{:.0f}")
    for ax in axes[1:]:
        ax.set_yticklabels([])
    fig.tight_layout()
    fig.savefig(artifacts_dir / "report_cells.png", dpi=110)
    plt.close(fig)

    test = load_split("test")
    lanes = [lane for lane in contract.LANES if (artifacts_dir / lane / SOURCE_PROBABILITIES).is_file()]
    fig, axes = plt.subplots(1, max(len(lanes), 1), figsize=(5 * max(len(lanes), 1), 4.6), squeeze=False)
    for ax, lane in zip(axes[0], lanes):
        predicted = np.load(artifacts_dir / lane / SOURCE_PROBABILITIES).argmax(1)
        matrix = np.zeros((10, 10), int)
        np.add.at(matrix, (test.labels, predicted), 1)
        ax.imshow(np.log1p(matrix), cmap="Blues")
        for i in range(10):
            for j in range(10):
                ax.text(j, i, matrix[i, j], ha="center", va="center", fontsize=6,
                        color="white" if i == j else "black")
        ax.set_title(f"{lane}: confusion (acc {(predicted == test.labels).mean():.4f})")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
    fig.tight_layout()
    fig.savefig(artifacts_dir / "report_confusion.png", dpi=110)
    plt.close(fig)
    return ["report_cells.png", "report_confusion.png"]


BENCH_COLUMNS = ("lane", "format", "runtime", "batch-1 p50 ms", "batch-1 p99 ms", "batch-256 images/s")


def _bench_rows(artifacts_dir: Path) -> list[list[str]]:
    """The latest `rosetta bench` results, if any (the bench is separate: `make bench`, not a test)."""
    path = artifacts_dir / "bench" / "bench.json"
    if not path.is_file():
        return []
    return [[r["lane"], r["format"], r["runtime"], f"{r['p50_ms']:.3f}", f"{r['p99_ms']:.3f}",
             f"{r['batch256_images_per_s']:,.0f}"] for r in json.loads(path.read_text())["artifacts"]]


def write_report(artifacts_dir: Path) -> Path:
    """report.md and report.html over the whole manifest (all cells, not only this run's)."""
    artifacts_dir = Path(artifacts_dir)
    data = manifest.load(artifacts_dir)
    entries = data.get("artifacts", [])
    images = _plots(artifacts_dir, entries)
    bench = _bench_rows(artifacts_dir)
    if bench:
        images.append("bench/bench.png")
    rows = [_row(e) for e in entries]
    md = ["# Rosetta export report", "", f"Created {data.get('created')}; schema v{data.get('schema_version')}.", "",
          "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", "Gates: float artifacts max |diff| <= 1e-5 and 100% argmax agreement with the source model; "
           "tflite-int8 accuracy drop <= 0.5 points and >= 99% agreement. All 10,000 test images.", ""]
    if bench:
        md += ["## Latency and throughput (`make bench`)", "", "| " + " | ".join(BENCH_COLUMNS) + " |",
               "|" + "---|" * len(BENCH_COLUMNS)] + ["| " + " | ".join(r) + " |" for r in bench] + [""]
    md += [f"![{name}]({name})" for name in images]
    md += ["", "## Tool versions", ""] + [f"- {k}: {v}" for k, v in data.get("tool_versions", {}).items()]
    (artifacts_dir / "report.md").write_text("\n".join(md) + "\n")

    tables = _html_table(COLUMNS, rows) + (f"<h2>Latency and throughput</h2>{_html_table(BENCH_COLUMNS, bench)}"
                                          if bench else "")
    pictures = "".join(f'<p><img src="{name}" style="max-width:100%"></p>' for name in images)
    (artifacts_dir / "report.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Rosetta export report</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:2px 6px;"
        "font-size:13px}table{border-collapse:collapse}</style>"
        f"<h1>Rosetta export report</h1><p>Created {html.escape(str(data.get('created')))}</p>"
        f"{tables}{pictures}")
    return artifacts_dir / "report.md"


def _html_table(columns, rows) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"
