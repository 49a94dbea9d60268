"""Model files as sources: an ONNX file (`model.onnx`) or a TensorFlow SavedModel directory (one signature).

Each is run by its own runtime (ONNX Runtime, TensorFlow) for the reference outputs every artifact is compared
with. The spec is read off the file: input names, dtypes and shapes as the model declares them (a SavedModel
signature's names sorted: a signature is a mapping; an ONNX graph's in its own order), output shapes and kinds from
running it on the examples.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from rosetta import output_kinds
from rosetta.core.spec import NUMPY_TO_DATATYPE, ModelSpec, SpecError, TensorSpec

DEFAULT_SIGNATURE = "serving_default"
ONNX_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
               "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16", "tensor(int8)": "int8",
               "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


class ModelFileError(ValueError):
    """The file is not a loadable model of its kind (rosetta.sources turns it into a SourceError)."""


class ModelFile:
    """A model in a file, callable on positional inputs (spec order) -> {output name: array}."""
    lane = ""
    path: Path
    declared: dict[str, tuple[str, tuple[int | None, ...]]]  # input name -> (numpy dtype name, shape; None: free)

    @property
    def input_names(self) -> list[str]:
        return list(self.declared)

    def __call__(self, *inputs: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def infer_spec(self, name: str, examples: Mapping[str, np.ndarray] | np.ndarray) -> tuple[ModelSpec, dict]:
        """The spec: inputs as declared (examples checked against them, floats cast to the declared width),
        outputs' shapes and kinds from running the model on the first examples."""
        if not isinstance(examples, Mapping):
            if len(self.declared) != 1:
                raise SpecError(f"{self.path}: the model takes {len(self.declared)} inputs "
                                f"({', '.join(self.declared)}); give an .npz with one array per input")
            examples = {self.input_names[0]: examples}
        missing = [n for n in self.declared if n not in examples]
        if missing:
            raise SpecError(f"{self.path}: the examples lack input(s) {', '.join(missing)}; the model's inputs: "
                            f"{', '.join(self.declared)} (examples have {', '.join(sorted(examples)) or 'none'})")
        arrays, inputs = {}, []
        for n, (dtype, shape) in self.declared.items():
            arrays[n] = _conform(self.path, n, np.asarray(examples[n]), dtype, shape)
            inputs.append(TensorSpec.like(n, arrays[n], _layout(shape)))
        out = self(*(arrays[n][:output_kinds.ROWS] for n in self.declared))
        outputs = tuple(TensorSpec.like(k, v, kind=output_kinds.infer_kind(v)) for k, v in out.items())
        return ModelSpec(name, tuple(inputs), outputs), arrays


def _conform(path: Path, name: str, array: np.ndarray, dtype: str, shape: tuple[int | None, ...]) -> np.ndarray:
    if array.dtype.kind == "f" and np.dtype(dtype).kind == "f":
        array = array.astype(dtype, copy=False)
    elif array.dtype != np.dtype(dtype):
        raise SpecError(f"{path}: input {name} takes {dtype}, the examples are {array.dtype}")
    if array.ndim != len(shape) or any(d is not None and d != a for d, a in zip(shape[1:], array.shape[1:])):
        want = ["N" if d is None else d for d in shape]
        raise SpecError(f"{path}: input {name} takes shape {want}, the examples are {list(array.shape)}")
    return array


def _layout(shape: tuple[int | None, ...]) -> str | None:
    """A rank-4 image input's layout, read off where its channel axis (1 or 3 channels) is."""
    if len(shape) != 4:
        return None
    if shape[1] in (1, 3) and shape[3] not in (1, 3):
        return "NCHW"
    if shape[3] in (1, 3) and shape[1] not in (1, 3):
        return "NHWC"
    return None


class OnnxFile(ModelFile):
    lane = "onnx-file"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self.path = path
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types for bad protobufs and bad graphs
            raise ModelFileError(f"{path}: not a loadable ONNX model ({type(exc).__name__}: "
                                 f"{_one_line(exc)})") from None
        self.declared = {}
        for i in self.session.get_inputs():
            if i.type not in ONNX_DTYPES:
                raise ModelFileError(f"{path}: input {i.name} has unsupported type {i.type}")
            self.declared[i.name] = (ONNX_DTYPES[i.type], tuple(d if isinstance(d, int) and d > 0 else None
                                                                 for d in i.shape))
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, *inputs: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(self.output_names, dict(zip(self.declared, inputs)))
        return dict(zip(self.output_names, values))


class SavedModelDir(ModelFile):
    lane = "savedmodel-dir"

    def __init__(self, path: Path, signature: str | None = None) -> None:
        self.path, self.signature = path, signature or DEFAULT_SIGNATURE
        if not path.is_dir() or not any((path / f).is_file() for f in ("saved_model.pb", "saved_model.pbtxt")):
            raise ModelFileError(f"{path}: not a SavedModel directory (no saved_model.pb)")
        import tensorflow as tf

        try:
            self.loaded = tf.saved_model.load(str(path))
        except Exception as exc:  # noqa: BLE001
            raise ModelFileError(f"{path}: not a loadable SavedModel ({type(exc).__name__}: "
                                 f"{_one_line(exc)})") from None
        signatures = sorted(self.loaded.signatures.keys())
        if self.signature not in signatures:
            raise ModelFileError(f"{path}: no signature {self.signature!r}; signatures: "
                                 f"{', '.join(signatures) or 'none'}")
        self.fn = self.loaded.signatures[self.signature]
        _, inputs = self.fn.structured_input_signature
        self.declared = {}
        for name in sorted(inputs):
            t = inputs[name]
            dtype = t.dtype.as_numpy_dtype.__name__ if t.dtype.is_numpy_compatible else None
            if dtype is None or np.dtype(dtype).name not in NUMPY_TO_DATATYPE or t.shape.rank is None:
                raise ModelFileError(f"{path}: input {name} has unsupported type {t.dtype.name} or unknown rank")
            self.declared[name] = (np.dtype(dtype).name, tuple(t.shape.as_list()))

    def __call__(self, *inputs: np.ndarray) -> dict[str, np.ndarray]:
        result = self.fn(**dict(zip(self.declared, inputs)))
        return {k: result[k].numpy() for k in sorted(result)}


def _one_line(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or repr(exc)
    return text if len(text) <= limit else text[:limit] + " ..."


def load_model_file(path: Path, signature: str | None = None) -> ModelFile | None:
    """The model file at `path`, or None when `path` is neither an .onnx file nor a directory."""
    if path.suffix == ".onnx":
        if not path.is_file():
            raise ModelFileError(f"{path}: no such file")
        return OnnxFile(path)
    if path.is_dir():
        return SavedModelDir(path, signature)
    return None

