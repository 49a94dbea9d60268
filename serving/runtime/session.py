"""ONNX Runtime session settings for serving, each with the reason it was chosen.

Measured on the 2-core dev machine (benchmarks/serving/bench.py has the in-process ceiling): with one intra-op thread
a 500-image batch runs in ~1.8 ms (~280k images/s); two threads were slower at every batch size (1-1000)
because the GEMMs of the 784-128-64-10 demo MLP it was measured on are too small to amortise the hand-off,
and spinning threads cost up to 2x. Other models may want --intra-op-threads 2.
"""
from __future__ import annotations

import onnxruntime as ort


def session_options(intra_op_threads: int = 1) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    # One thread per model: the event loop, the gRPC threads and the other models need the other core.
    opts.intra_op_num_threads = intra_op_threads
    # The graph is a single chain of ops, so there is nothing for a parallel executor to overlap.
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    # Full optimisation (MatMul+Add -> Gemm fusion, layout) doubled batch throughput over none.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # No busy-waiting between runs: on shared cores a spinning pool steals CPU from request handling.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3  # warnings from the optimiser are not actionable at serve time
    return opts


def create_session(model: bytes | str, intra_op_threads: int = 1) -> ort.InferenceSession:
    """Load from the bytes already hash-checked, not from the path, so what runs is what was verified; a model
    with external data loads from its path (ORT reads the data files beside it, verified just before)."""
    return ort.InferenceSession(model, session_options(intra_op_threads), providers=["CPUExecutionProvider"])
