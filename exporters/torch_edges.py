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


def dynamic_batch(spec: ModelSpec) -> tuple[dict[int, torch.export.Dim], ...]:
    batch = torch.export.Dim("batch", min=1)
    return tuple({0: batch} for _ in spec.inputs)


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
