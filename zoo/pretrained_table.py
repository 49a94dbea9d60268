"""The pretrained zoo's summary for coverage.md: per model its package and version, framework, inputs, cells ok,
worst float |diff|, the quantized cells' agreement and error, then every cell's status, size and error."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata

from rosetta.zoo.catalog import ZooModel
from rosetta.zoo.coverage import Cell, formats_of

QUANTIZED = ("int8", "int16", "fp16", "dynamic")  # format-name parts of the lossy (non-float32) targets


def is_quantized(fmt: str) -> bool:
    return any(part in fmt for part in QUANTIZED)


def package_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _fmt(value: float | None, spec: str = ".2g") -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _size(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _one_line(text: str, limit: int = 220) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _worst(cell: Cell, metric: str) -> float | None:
    values = [m[metric] for m in (cell.outputs or {}).values() if metric in m]
    if not values:
        return None
    return min(values) if metric.startswith("sqnr") else max(values)


def quantized_text(cell: Cell) -> str:
    """`fmt: status, agreement a, SQNR s dB` (SQNR when the gate recorded it, else the worst NRMSE)."""
    parts = [f"{cell.format}: {cell.status}"]
    if cell.argmax_agreement is not None:
        parts.append(f"agreement {cell.argmax_agreement:.3f}")
    sqnr = _worst(cell, "sqnr_db")
    if sqnr is not None:
        parts.append(f"SQNR {sqnr:.1f} dB")
    elif (nrmse := _worst(cell, "nrmse")) is not None:
        parts.append(f"NRMSE {nrmse:.3g}")
    return ", ".join(parts)


def model_row(model: ZooModel, mine: Sequence[Cell], crashed: Mapping[str, str], skipped: Mapping[str, str]) -> str:
    package = f"{model.package} {package_version(model.package)}"
    if model.name in skipped:
        status = f"skipped: {_one_line(skipped[model.name], 120)}"
        return f"| {model.name} | {package} | {model.framework} | 0/0 | | | {status} |"
    if model.name in crashed:
        crash = _one_line(crashed[model.name], 160)
        return f"| {model.name} | {package} | {model.framework} | 0/0 | | | crashed: {crash} |"
    ok = sum(c.status == "ok" for c in mine)
    floats = [c.max_abs_diff for c in mine if not is_quantized(c.format) and c.max_abs_diff is not None]
    worst = _fmt(max(floats)) if floats else ""
    quantized = "; ".join(quantized_text(c) for c in mine if is_quantized(c.format))
    not_ok = ", ".join(f"{c.format} ({c.status})" for c in mine if c.status != "ok")
    return (f"| {model.name} | {package} | {model.framework} | {ok}/{len(mine)} | {worst} | {quantized} | "
            f"{not_ok or 'all ok'} |")


def pretrained_section(models: Iterable[ZooModel], grid: Sequence[Cell], crashed: Mapping[str, str] | None = None,
                       skipped: Mapping[str, str] | None = None) -> str:
    models, crashed, skipped = list(models), dict(crashed or {}), dict(skipped or {})
    by_model = {m.name: [c for c in grid if c.model == m.name] for m in models}
    lines = ["## Pretrained zoo", "",
             "Networks whose trained weights ship inside PyPI wheels, on inputs that look like their data.", "",
             "| model | package | framework | cells ok | worst float max \\|diff\\| | quantized cells | not ok |",
             "|---|---|---|---|---|---|---|"]
    lines += [model_row(m, by_model[m.name], crashed, skipped) for m in models]
    lines += ["", "### Inputs", ""]
    lines += [f"- **{m.name}** ({m.description}): {m.inputs_made}, {m.examples} rows" for m in models]
    lines += ["", "### Every cell", "", "| model | format | status | max \\|diff\\| | size | error |",
              "|---|---|---|---|---|---|"]
    for m in models:
        mine = by_model[m.name]
        order = formats_of(mine)
        for c in sorted(mine, key=lambda c: order.index(c.format)):
            lines.append(f"| {m.name} | {c.format} | {c.status} | {_fmt(c.max_abs_diff)} | {_size(c.bytes)} | "
                         f"{_one_line(c.reason)} |")
    return "\n".join(lines) + "\n"
