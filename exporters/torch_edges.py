"""Edges that stay in PyTorch: TorchScript and a torch.export program (.pt2)."""
from __future__ import annotations

from pathlib import Path

import torch

from exporters.context import ExportContext
from rosetta import contract


def _example() -> tuple[torch.Tensor]:
    return (torch.zeros(2, *contract.IMAGE_SHAPE),)


def torch_to_torchscript(src: Path, dst: Path, ctx: ExportContext) -> None:
    scripted = torch.jit.script(ctx.source_model.eval())  # script, not trace: no shape baked in
    scripted.save(str(dst))


def torch_to_pt2(src: Path, dst: Path, ctx: ExportContext) -> None:
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(ctx.source_model.eval(), _example(), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(dst))
