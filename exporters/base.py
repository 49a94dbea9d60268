"""The interfaces of the export graph: a converter writes one node from another; edges name theirs lazily."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rosetta.exporters.context import ExportContext


class Converter(Protocol):
    """Writes the edge's destination node at `dst` (a file or directory) from the source node at `src`; may return
    facts for the manifest entry of that node (e.g. {"quantization": {...}}), kept beside its other fields."""

    def __call__(self, src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class LazyConverter:
    """A converter imported on first call: the edge modules import TensorFlow, torch or JAX at their top, and a run
    pays only for the frameworks its own edges use. `ref` is "module:function" inside rosetta.exporters, the form
    a child process (backend_process) is handed too."""
    ref: str

    def load(self) -> Converter:
        module, function = self.ref.split(":")
        return getattr(importlib.import_module(f"rosetta.exporters.{module}"), function)

    def __call__(self, src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any] | None:
        return self.load()(src, dst, ctx)
