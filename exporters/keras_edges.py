"""Edges from a Keras model on the JAX or PyTorch backend (lanes `keras-jax`, `keras-torch`).

The export of such a model runs in a process whose Keras runs its backend (Keras fixes the backend per process),
so its reference outputs are the backend's own. Routes chosen by measurement (README, "Keras on JAX and
PyTorch"): the SavedModel is the model's `.keras` file re-loaded on the TensorFlow backend in a child process,
then Keras' ExportArchive, the keras lane's own edge, giving the keras lane's graph (TFLite MLP: 8 ops; through
jax2tf it would be one XlaCallModule, 56 TFLite ops, and no TF.js); TFLite, TF.js and ONNX follow from that
SavedModel as for the keras lane (Keras' own ONNX export fails the CNN on JAX: ORT rejects its MaxPool; on torch
it takes the TorchScript exporter, whose graph onnx2tf mis-converts). The `.pt2` is Keras' own
`model.export(format="torch")` on the torch backend.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from rosetta.exporters.backend_process import run_converter
from rosetta.exporters.context import ExportContext


def savedmodel_on_tensorflow(src: Path, dst: Path, ctx: ExportContext) -> None:
    """The model saved as `.keras` (a backend-neutral file) and exported by the keras lane's edge
    (tf_edges.keras_to_savedmodel) in a child process whose Keras runs TensorFlow."""
    with tempfile.TemporaryDirectory(prefix="rosetta-keras-") as tmp:
        keras_file = Path(tmp) / "model.keras"
        ctx.source_model.save(keras_file)  # the source as this run has it, whatever it was loaded from
        run_converter("tensorflow", "tf_edges:keras_to_savedmodel", keras_file, dst, ctx)


def keras_torch_to_pt2(src: Path, dst: Path, ctx: ExportContext) -> None:
    """Keras' own torch.export (inference-mode call, its own input flattening), with a free batch dimension:
    without `dynamic_shapes` Keras traces batch 1 and the program refuses any other batch."""
    from rosetta.exporters.torch_edges import dynamic_batch, example_args

    model = ctx.source_model
    model(*example_args(ctx))  # Keras' exporters refuse a model never called directly (predict does not count)
    batch = dynamic_batch(ctx.spec)
    model.export(str(dst), format="torch", verbose=False, dynamic_shapes=batch[0] if len(batch) == 1 else batch)
