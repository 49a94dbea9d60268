"""A source model from any of the three frameworks: load it, detect its framework, describe and run it.

A source is a Keras 3 `.keras` file, a PyTorch `torch.export` program (`.pt2`), an ONNX file or a TensorFlow
SavedModel directory (rosetta.model_files), or `package.module:factory`,
a callable returning a Keras model, a `torch.nn.Module`, or for JAX an `(apply_fn, variables)` pair. The
framework is detected from the object, never asked. Frameworks are imported only when a source needs them.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rosetta import keras_backends, output_kinds
from rosetta.core.spec import ModelSpec, SpecError, TensorSpec, batch_chunks, batch_size
from rosetta.jax_function import JaxFunction
from rosetta.model_files import ModelFile, ModelFileError, load_model_file

CHUNK = 1000  # rows per source call when computing reference outputs
LAYOUTS = {"torch": "NCHW", "keras": "NHWC", "jax": "NHWC"}  # each framework's convention for rank-4 images


def framework(lane: str) -> str:
    """The framework whose API runs a source of `lane`: the Keras lanes of every backend are Keras."""
    return "keras" if lane in keras_backends.BACKENDS else lane


class SourceError(ValueError):
    """The source cannot be loaded, or is not a model of a supported framework."""


@dataclass(frozen=True)
class Source:
    lane: str  # the export graph's source node: "keras" | "torch" | "jax", or Keras on another backend:
    # "keras-jax" | "keras-torch" (its Keras backend, fixed per process, decides which converters can run it),
    # or a model file: "onnx-file" | "savedmodel-dir"
    model: Any  # keras.Model | torch.nn.Module | torch.export.ExportedProgram | JaxFunction | ModelFile
    origin: str  # what it was loaded from: a path, "module:factory", or a description

    def predict(self, spec: ModelSpec, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The source's outputs on named inputs, in bounded chunks, as {spec output name: array}."""
        run = framework(self.lane)
        parts = [name_outputs(spec, _call(run, self.model, [np.ascontiguousarray(inputs[k][i:j])
                                                            for k in spec.input_names]))
                 for i, j in batch_chunks(spec, batch_size(inputs), CHUNK)]
        return {name: np.concatenate([p[name] for p in parts]) for name in spec.output_names}

    def call(self, *inputs: np.ndarray) -> Any:
        """The model on positional inputs (its own input order): one array, a list or a mapping of arrays."""
        return _call(framework(self.lane), self.model, list(inputs))

    def input_names(self) -> list[str] | None:
        """The model's own input names in call order, when the framework records them."""
        return _input_names(self)


# --- loading ----------------------------------------------------------------------------------------------------
def load_source(text: str, signature: str | None = None) -> Source:
    """`model.keras`, `program.pt2`, `model.onnx`, a SavedModel directory (its `signature`, default
    serving_default) or `package.module:factory`."""
    path = Path(text)
    if signature is not None and not path.is_dir():
        raise SourceError(f"{text}: --signature is for a SavedModel directory")
    try:
        model_file = load_model_file(path, signature)
    except ModelFileError as exc:
        raise SourceError(str(exc)) from None
    if model_file is not None:
        return Source(model_file.lane, model_file, str(path))
    if path.suffix == ".keras":
        if not path.is_file():
            raise SourceError(f"{text}: no such file")
        import keras

        try:
            return Source(_keras_lane(), keras.saving.load_model(path), str(path))
        except Exception as exc:  # noqa: BLE001 - keras raises many types for a bad file; name the file
            raise SourceError(f"{text}: not a loadable Keras 3 model ({type(exc).__name__}: {exc})") from None
    if path.suffix == ".pt2":
        if not path.is_file():
            raise SourceError(f"{text}: no such file")
        import torch

        try:
            return Source("torch", torch.export.load(str(path)), str(path))
        except Exception as exc:  # noqa: BLE001
            raise SourceError(f"{text}: not a torch.export program ({type(exc).__name__}: {exc})") from None
    if ":" in text and not path.exists():
        return detect(_call_factory(text), text)
    raise SourceError(f"{text}: unknown source; give a .keras file, a .pt2 torch.export program, an .onnx file, "
                      "a SavedModel directory, or package.module:factory")


def _call_factory(text: str) -> Any:
    module_name, _, attr = text.partition(":")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # a user's own module beside them, as `python -m` would find it
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SourceError(f"{text}: cannot import ({type(exc).__name__}: {exc})") from None
    if not callable(factory):
        raise SourceError(f"{text}: {attr} is not callable")
    return factory()


def detect(obj: Any, origin: str) -> Source:
    """The framework of a model object (a factory's result, or a model handed to rosetta.export)."""
    if isinstance(obj, Source):
        return obj
    if isinstance(obj, JaxFunction):
        return Source("jax", obj, origin)
    modules = {c.__module__.split(".")[0] for c in type(obj).__mro__}
    if "keras" in modules:
        return Source(_keras_lane(), obj, origin)
    if "torch" in modules:
        import torch

        if isinstance(obj, (torch.nn.Module, torch.export.ExportedProgram)):
            return Source("torch", obj, origin)
    if isinstance(obj, tuple) and len(obj) == 2 and callable(obj[0]):
        return Source("jax", JaxFunction(*obj), origin)
    raise SourceError(f"{origin}: returned a {type(obj).__module__}.{type(obj).__name__}; expected a Keras model, "
                      "a torch.nn.Module or torch.export program, or a JAX (apply_fn, variables) pair")


def _keras_lane() -> str:
    """A Keras model's lane is its backend's: this process's (the one it was built or loaded on)."""
    import keras

    return keras_backends.LANES[keras.backend.backend()]


# --- running --------------------------------------------------------------------------------------------------
def _call(lane: str, model: Any, args: list[np.ndarray]) -> Any:
    """The model on positional inputs: one array, a sequence or a mapping of arrays (numpy)."""
    to_numpy = np.asarray
    if lane == "keras":
        import keras

        out = model(args if len(args) > 1 else args[0], training=False)
        to_numpy = keras.ops.convert_to_numpy  # any backend's tensors (torch ones may require grad)
    elif lane == "torch":
        import torch

        module = torch_module(model)
        with torch.inference_mode():
            out = module(*(torch.from_numpy(np.ascontiguousarray(a)) for a in args))
    else:
        out = model(*args)
    if isinstance(out, Mapping):
        return {k: to_numpy(v) for k, v in out.items()}
    return [to_numpy(o) for o in out] if isinstance(out, (list, tuple)) else to_numpy(out)


def torch_module(model: Any) -> Any:
    """An eval-mode module; a torch.export program (.pt2) is unpacked to its module, fixed in the mode it was
    exported in (its module refuses .eval())."""
    import torch

    return model.module() if isinstance(model, torch.export.ExportedProgram) else model.eval()


def name_outputs(spec: ModelSpec, outputs: Any) -> dict[str, Any]:
    """A model's outputs (one array or tensor, a sequence in spec order, or a mapping) by spec output name."""
    if isinstance(outputs, Mapping):
        missing = set(spec.output_names) - set(outputs)
        if missing:
            raise SpecError(f"{spec.name}: model outputs {sorted(outputs)}, the spec names {spec.output_names}")
        return {name: outputs[name] for name in spec.output_names}
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    if len(outputs) != len(spec.outputs):
        raise SpecError(f"{spec.name}: model returned {len(outputs)} outputs, the spec names {spec.output_names}")
    return dict(zip(spec.output_names, outputs))


def _input_names(source: Source) -> list[str] | None:
    if framework(source.lane) == "keras":
        inputs = getattr(source.model, "inputs", None)
        return [t.name for t in inputs] if inputs else None
    if source.lane == "torch":
        import torch

        if isinstance(source.model, torch.export.ExportedProgram):
            return list(source.model.graph_signature.user_inputs)
        params = inspect.signature(source.model.forward).parameters.values()
        return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return None


def _output_names(source: Source, count: int, returned: Any) -> list[str]:
    if isinstance(returned, Mapping):
        return list(returned)
    names = getattr(source.model, "output_names", None) if framework(source.lane) == "keras" else None
    if names and len(names) == count:
        return list(names)
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


# --- describing a user's model --------------------------------------------------------------------------------
Ranges = dict[int, tuple[int, int | None] | None]  # axis -> (min, max) or None: free, no declared range


def free_dims(spec: TensorSpec, axes: Ranges) -> TensorSpec:
    """`spec` with the given axes free (-1) and their declared ranges (axis 0, the batch, is free already)."""
    if not axes:
        return spec
    bad = [a for a in axes if not 0 <= a < len(spec.shape)]
    if bad:
        raise SpecError(f"{spec.name}: no axis {bad} in shape {list(spec.shape)}")
    shape = tuple(-1 if a in axes else d for a, d in enumerate(spec.shape))
    ranges = tuple(axes.get(a) for a in range(len(shape)))
    return TensorSpec(spec.name, spec.datatype, shape, spec.layout, spec.kind, ranges)


def declared_dims(source: Source, order: list[str]) -> dict[str, Ranges]:
    """The dynamic dimensions a source declares itself: a torch.export program's symbolic dimensions with their
    Dim ranges (the batch's included), a Keras model's None input dimensions past the batch."""
    if source.lane == "torch":
        import torch

        if isinstance(source.model, torch.export.ExportedProgram):
            return _program_dims(source.model, order)
    if framework(source.lane) == "keras":
        inputs = getattr(source.model, "inputs", None) or []
        return {n: {a: None for a, d in enumerate(t.shape) if a > 0 and d is None}
                for n, t in zip(order, inputs) if any(d is None for d in t.shape[1:])}
    return {}


def _program_dims(program: Any, order: list[str]) -> dict[str, Ranges]:
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    out: dict[str, Ranges] = {}
    for name, node_name in zip(order, program.graph_signature.user_inputs):
        val = placeholders[node_name].meta.get("val")
        axes: Ranges = {}
        for axis, d in enumerate(getattr(val, "shape", ())):
            if isinstance(d, int):
                continue
            bounds = program.range_constraints.get(d.node.expr)
            # torch spells an open bound as its own `int_oo`, which sympy calls finite: test for an integer
            low = int(bounds.lower) if bounds is not None and bounds.lower.is_Integer else 1
            high = int(bounds.upper) if bounds is not None and bounds.upper.is_Integer else None
            axes[axis] = (max(1, low), high)
        if axes:
            out[name] = axes
    return out


def infer_spec(source: Source, name: str, examples: Mapping[str, np.ndarray] | np.ndarray,
               dynamic: Mapping[str, Ranges] | None = None) -> tuple[ModelSpec, dict]:
    """The spec of a user's model from its example inputs and what the model returns on a few of them.

    `examples` is one array (a one-input model: named after the model's own input) or a mapping of input name ->
    array (order: the model's own input order when the framework records one, else the mapping's order).
    `dynamic` names free non-batch axes the source cannot declare itself ({input: {axis: (min, max) | None}}).
    Returns the spec and the examples keyed by input name. Each output's kind is inferred from its values
    (rosetta.output_kinds).
    """
    if isinstance(source.model, ModelFile):  # a file declares its inputs itself
        return source.model.infer_spec(name, examples)
    own = source.input_names()
    if not isinstance(examples, Mapping):
        examples = {(own[0] if own else "input"): np.asarray(examples)}
    examples = {k: np.asarray(v) for k, v in examples.items()}
    order = list(examples)
    if own and set(own) == set(examples):
        order = own
    elif own and len(own) == len(examples) and len(examples) > 1:
        raise SpecError(f"{source.origin}: example inputs are named {sorted(examples)}, the model's inputs are "
                        f"{own}; name the .npz arrays after the model's inputs")
    declared = declared_dims(source, order)
    for n, axes in (dynamic or {}).items():
        if n not in examples:
            raise SpecError(f"{source.origin}: a dynamic dimension of {n!r}, which is not an input ({order})")
        declared.setdefault(n, {}).update(axes)
    inputs = tuple(free_dims(TensorSpec.like(n, examples[n], LAYOUTS[framework(source.lane)]
                                             if examples[n].ndim == 4 else None), declared.get(n, {}))
                   for n in order)
    raw = _call(framework(source.lane), source.model, [examples[n][:output_kinds.ROWS] for n in order])
    values = list(raw.values()) if isinstance(raw, Mapping) else raw if isinstance(raw, list) else [raw]
    out_names = _output_names(source, len(values), raw)
    outputs = [TensorSpec.like(n, np.asarray(v), kind=output_kinds.infer_kind(v)) for n, v in zip(out_names, values)]
    return ModelSpec(name, inputs, tuple(outputs)), examples
