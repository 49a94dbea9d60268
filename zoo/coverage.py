"""The zoo's coverage grid (model x format: ok / gate-failed / failed, with max |diff| and the reason), read
from the manifest's entries (each (model, format)'s newest attempt) and written as coverage.md, coverage.json and
coverage.png."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rosetta.core import manifest
from rosetta.core.atomic import atomic_file, write_json
from rosetta.core.manifest import Entry, ManifestError

# Display order; formats the manifest has beyond these are appended in order of appearance.
FORMATS = ("savedmodel", "tflite-fp32", "tflite-int8", "tfjs", "onnx", "torchscript", "pt2")
STATUSES = ("ok", "gate-failed", "failed")
NOT_REACHED = "not-reached"  # the export graph has no path from the model's lane to this format
COLORS = {"ok": "#2e7d32", "gate-failed": "#ef6c00", "failed": "#c62828", NOT_REACHED: "#e0e0e0"}


class CoverageError(ValueError):
    """The manifest cannot be read: the message says what is wrong."""


@dataclass(frozen=True)
class Cell:
    model: str
    format: str
    status: str  # "ok" | "gate-failed" | "failed"
    lane: str | None = None
    max_abs_diff: float | None = None
    argmax_agreement: float | None = None
    reason: str = ""  # the error (failed) or the gate shortfalls (gate-failed)
    converter: str | None = None
    bytes: int | None = None  # the artifact's size on disk
    outputs: dict[str, dict[str, float]] | None = None  # per output: max_abs_diff, nrmse, ... (the gate's metrics)


def cell_from_entry(entry: Entry) -> Cell:
    if entry.status == "failed":
        reason = entry.error or "failed without an error message"
    elif entry.status == "gate-failed":
        reason = entry.why() or "gate failed without recorded shortfalls"
    else:
        reason = ""
    parity = entry.parity
    return Cell(entry.model_name, entry.format, entry.status, entry.lane, parity and parity.max_abs_diff,
                parity and parity.argmax_agreement, reason, entry.converter.get("path"), entry.bytes,
                parity and parity.outputs)


def read_manifest(artifacts_dir: Path) -> list[Entry]:
    """Every artifact entry of DIR's manifest."""
    try:
        return manifest.load(artifacts_dir, missing_ok=False).entries
    except ManifestError as exc:
        raise CoverageError(str(exc)) from None


def cells(entries: Iterable[Entry]) -> list[Cell]:
    """One cell per (model, format): its newest version's entry (the latest `make zoo` run's result, ok or not;
    equal versions: the later entry wins)."""
    by_key: dict[tuple[str, str], tuple[int, Cell]] = {}
    for entry in entries:
        cell = cell_from_entry(entry)
        if entry.version >= by_key.get((cell.model, cell.format), (entry.version, None))[0]:
            by_key[(cell.model, cell.format)] = (entry.version, cell)
    return [cell for _, cell in by_key.values()]


def formats_of(grid: Iterable[Cell]) -> list[str]:
    seen = [c.format for c in grid]
    return [f for f in FORMATS if f in seen] + list(dict.fromkeys(f for f in seen if f not in FORMATS))


def models_of(grid: Iterable[Cell], order: Iterable[str] = ()) -> list[str]:
    seen = list(dict.fromkeys(c.model for c in grid))
    first = [m for m in order if m in seen]
    return first + [m for m in seen if m not in first]


def summary(grid: list[Cell], crashed: Mapping[str, str] | None = None) -> dict[str, Any]:
    counts = {s: sum(c.status == s for c in grid) for s in STATUSES}
    return {"cells": len(grid), **counts, "models": len({c.model for c in grid}),
            "crashed_models": dict(crashed or {})}


def _diff_text(cell: Cell) -> str:
    return "" if cell.max_abs_diff is None else f"{cell.max_abs_diff:.2g}"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def markdown(grid: list[Cell], order: Iterable[str] = (), crashed: Mapping[str, str] | None = None,
             skipped: Mapping[str, str] | None = None, extra: str = "") -> str:
    models, fmts = models_of(grid, order), formats_of(grid)
    index = {(c.model, c.format): c for c in grid}
    s = summary(grid, crashed)
    lines = ["# Zoo coverage", "",
             f"{s['cells']} artifacts over {s['models']} models: {s['ok']} ok, {s['gate-failed']} gate-failed, "
             f"{s['failed']} failed. Cells show the status and max |diff| against the source model; "
             "`-` means the export graph does not reach that format from the model's framework.", "",
             "| model | " + " | ".join(fmts) + " |", "|---" * (len(fmts) + 1) + "|"]
    for model in models:
        row = []
        for fmt in fmts:
            cell = index.get((model, fmt))
            row.append("-" if cell is None else f"{cell.status} {_diff_text(cell)}".strip())
        lines.append(f"| {model} | " + " | ".join(row) + " |")
    problems = [c for c in grid if c.status != "ok"]
    if problems:
        lines += ["", "## Not ok", "", "| model | format | status | max abs diff | reason |", "|---|---|---|---|---|"]
        lines += [f"| {c.model} | {c.format} | {c.status} | {_diff_text(c)} | {_one_line(c.reason)} |"
                  for c in sorted(problems, key=lambda c: (models.index(c.model), fmts.index(c.format)))]
    if crashed:
        lines += ["", "## Exports that produced no manifest entries", ""]
        lines += [f"- **{model}**: {_one_line(reason)}" for model, reason in crashed.items()]
    if skipped:
        lines += ["", "## Skipped models", ""]
        lines += [f"- **{model}**: {_one_line(reason)}" for model, reason in skipped.items()]
    return "\n".join(lines) + "\n" + (f"\n{extra.rstrip()}\n" if extra else "")


def to_json(grid: list[Cell], order: Iterable[str] = (), crashed: Mapping[str, str] | None = None,
            skipped: Mapping[str, str] | None = None) -> dict[str, Any]:
    models = models_of(grid, order)
    return {"summary": summary(grid, crashed), "skipped_models": dict(skipped or {}), "models": models,
            "formats": formats_of(grid),
            "cells": [asdict(c) for c in sorted(grid, key=lambda c: (models.index(c.model), c.format))]}


def png(grid: list[Cell], order: Iterable[str] = ()) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    models, fmts = models_of(grid, order), formats_of(grid)
    index = {(c.model, c.format): c for c in grid}
    fig, ax = plt.subplots(figsize=(1.5 * len(fmts) + 3.0, 0.55 * len(models) + 1.6))
    for i, model in enumerate(models):
        for j, fmt in enumerate(fmts):
            cell = index.get((model, fmt))
            status = cell.status if cell else NOT_REACHED
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=COLORS[status], edgecolor="white", linewidth=2))
            text = "-" if cell is None else (_diff_text(cell) or status)
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=8,
                    color="black" if cell is None else "white")
    ax.set_xlim(0, len(fmts))
    ax.set_ylim(len(models), 0)
    ax.set_xticks([j + 0.5 for j in range(len(fmts))], fmts, rotation=30, ha="right")
    ax.set_yticks([i + 0.5 for i in range(len(models))], models)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.legend(handles=[Patch(color=COLORS[s], label=s) for s in (*STATUSES, NOT_REACHED)],
              loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.02 * len(fmts)), ncol=4, fontsize=8, frameon=False)
    ax.set_title("zoo coverage: max |diff| vs source", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def write_coverage(out_dir: Path, entries: Iterable[Entry], order: Iterable[str] = (),
                   crashed: Mapping[str, str] | None = None, skipped: Mapping[str, str] | None = None,
                   extra: str = "") -> dict[str, Path]:
    """coverage.md, coverage.json and coverage.png in `out_dir`; returns their paths."""
    grid, order = cells(entries), list(order)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / "coverage.md", "json": out_dir / "coverage.json", "png": out_dir / "coverage.png"}
    with atomic_file(paths["md"]) as tmp:
        tmp.write_text(markdown(grid, order, crashed, skipped, extra))
    write_json(paths["json"], to_json(grid, order, crashed, skipped))
    with atomic_file(paths["png"]) as tmp:
        tmp.write_bytes(png(grid, order))
    return paths
