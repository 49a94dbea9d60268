"""Edges that stay in PyTorch: TorchScript and a torch.export program (.pt2), with a dynamic batch dimension."""
from __future__ import annotations

from pathlib import Path

import torch

from rosetta.core.spec import ModelSpec
from rosetta.exporters.context import ExportContext
from rosetta.sources import torch_module

EXAMPLE_ROWS = 2  # torch.export specialises a dimension of size 1; trace with 2 rows


def example_args(ctx: ExportContext) -> tuple[torch.Tensor, ...]:
    """Real rows (not zeros: data-dependent paths must be traced with realistic values), spec input order."""
    return tuple(torch.from_numpy(ctx.warmup[t.name][:EXAMPLE_ROWS].astype(t.dtype).copy()) for t in ctx.spec.inputs)


def _dim(name: str, low: int, high: int | None) -> torch.export.Dim:
    return torch.export.Dim(name, min=low, max=high) if high is not None else torch.export.Dim(name, min=low)


def dynamic_batch(spec: ModelSpec) -> tuple[dict[int, torch.export.Dim], ...]:
    """torch.export's dynamic_shapes for the spec: one batch Dim shared by every input (its declared range, else
    any size >= 1), and each free non-batch axis (sequence length, image H/W) its own Dim in its declared
    range, or Dim.AUTO where none was declared (torch.export then finds which axes are equal)."""
    low, high = 1, None
    for t in spec.inputs:
        lo, hi = t.range(0)
        low, high = max(low, lo), hi if high is None else (high if hi is None else min(high, hi))
    batch = _dim("batch", low, high)
    shapes = []
    for t in spec.inputs:
        axes: dict[int, torch.export.Dim] = {0: batch}
        for axis in t.free_axes:
            declared = t.ranges[axis] if t.ranges else None
            axes[axis] = _dim(f"{t.name}_{axis}", *declared) if declared else torch.export.Dim.AUTO
        shapes.append(axes)
    return tuple(shapes)


def torch_to_torchscript(src: Path, dst: Path, ctx: ExportContext) -> None:
    """Script (no shape baked in); a module TorchScript cannot compile is traced on real rows instead."""
    module = torch_module(ctx.source_model)
    try:
        scripted = torch.jit.script(module)
    except Exception:  # noqa: BLE001 - scripting rejects much valid Python; tracing is the documented fallback
        with torch.no_grad():
            scripted = torch.jit.trace(module, example_args(ctx), check_trace=False)
    scripted.save(str(dst))


def torch_to_pt2(src: Path, dst: Path, ctx: ExportContext) -> None:
    program = torch.export.export(torch_module(ctx.source_model), example_args(ctx),
                                  dynamic_shapes=dynamic_batch(ctx.spec))
    torch.export.save(program, str(dst))
