"""torch.export program (.pt2) -> ExecuTorch program (.pte), lowered to the XNNPACK backend where it can be.

ExecuTorch plans every tensor's memory ahead of time, so the batch dimension needs an upper bound: the program
is re-exported with batch in [1, MAX_BATCH]. The plan may hold fewer rows than that bound (measured: a conv net's
planned 15 of 256), so the runtime reads the planned batch from the program and feeds bigger sets in chunks.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch

from rosetta.exporters.base import Unsupported
from rosetta.exporters.context import ExportContext
from rosetta.exporters.torch_edges import example_args

MAX_BATCH = 256  # the bound of the exported batch dimension


def bounded_batch(n_inputs: int) -> tuple[dict[int, torch.export.Dim], ...]:
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    return tuple({0: batch} for _ in range(n_inputs))


def _op_counts(program) -> dict[str, Any]:
    """What runs in XNNPACK (delegated) and what ExecuTorch's portable kernels run, node by node."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(program.graph_module)
    portable: Counter[str] = Counter()
    for node in program.graph.nodes:
        name = getattr(node.target, "__name__", str(node.target))
        if node.op == "call_function" and "executorch_call_delegate" not in name and name != "getitem":
            portable[name.removesuffix(".default")] += 1
    return {"delegated_ops": int(info.num_delegated_nodes), "portable_ops": int(info.num_non_delegated_nodes),
            "delegate_calls": sum(1 for n in program.graph.nodes if "executorch_call_delegate" in str(n.target)),
            "portable_op_kinds": dict(sorted(portable.items()))}


def drop_layout_copies(module: torch.fx.GraphModule) -> int:
    """Remove memory-format copies (`contiguous`/`clone` to channels_last), which change no value: Keras' torch
    backend asks for them around its convolutions, and ExecuTorch lowers them to dim-order clones its portable
    kernel refuses at run time (error 0x12). Returns how many were removed."""
    layout_ops = (torch.ops.aten.contiguous.default, torch.ops.aten.clone.default)
    dropped = 0
    for node in list(module.graph.nodes):
        if node.op == "call_function" and node.target in layout_ops and \
                node.kwargs.get("memory_format") not in (None, torch.contiguous_format, torch.preserve_format):
            node.replace_all_uses_with(node.args[0])
            module.graph.erase_node(node)
            dropped += 1
    if dropped:
        module.recompile()
    return dropped


def pt2_to_executorch(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any]:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    free = [t.name for t in ctx.spec.inputs if any(d < 0 for d in t.shape[1:])]
    if free:
        raise Unsupported(f"input(s) {', '.join(free)} have free dimensions besides the batch; ExecuTorch plans "
                          "memory for fixed bounds, and this export bounds the batch only")
    module = torch.export.load(str(src)).module()
    dropped = drop_layout_copies(module)
    program = torch.export.export(module, example_args(ctx), dynamic_shapes=bounded_batch(len(ctx.spec.inputs)))
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    counts = _op_counts(edge.exported_program())
    dst.write_bytes(edge.to_executorch().buffer)
    return {"backend": "XNNPACK (fp32)", "max_batch": MAX_BATCH, **counts, "layout_copies_dropped": dropped}
