"""What a .tflite file executes: its operator histogram, read from the flatbuffer itself (no interpreter).

The manifest records it per TFLite artifact, so two routes to the same model can be compared op by op.
`compute_op_histogram` leaves out what only moves data or computes shapes, the part that legitimately differs
between converters (a Flatten is one RESHAPE from onnx2tf, SHAPE + STRIDED_SLICE + PACK + RESHAPE from Keras).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema

_BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
# Ops that only re-index their input: no arithmetic, any converter may add or drop them.
LAYOUT_OPS = frozenset({"RESHAPE", "EXPAND_DIMS", "SQUEEZE", "TRANSPOSE"})
_SHAPE_DTYPES = (schema.TensorType.INT32, schema.TensorType.INT64)


def _op_name(code: schema.OperatorCode) -> str:
    # Schema v3a: `deprecated_builtin_code` (int8) saturates at 127; the real code is the larger of the two.
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == schema.BuiltinOperator.CUSTOM:
        return f"CUSTOM:{(code.CustomCode() or b'').decode()}"
    return _BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _operators(path: Path | str) -> Iterator[tuple[str, bool]]:
    """(op name, whether it computes only shapes: every output an int32/int64 scalar or vector)."""
    buf = Path(path).read_bytes()
    if len(buf) < 8 or not schema.Model.ModelBufferHasIdentifier(buf, 0):
        raise ValueError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier)")
    model = schema.Model.GetRootAs(buf, 0)
    names = [_op_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for i in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(i)
            outputs = [subgraph.Tensors(op.Outputs(j)) for j in range(op.OutputsLength()) if op.Outputs(j) >= 0]
            shape_only = bool(outputs) and all(t.Type() in _SHAPE_DTYPES and t.ShapeLength() <= 1 for t in outputs)
            yield names[op.OpcodeIndex()], shape_only


def _sorted(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def op_histogram(path: Path | str) -> dict[str, int]:
    """Operator name -> how many times it occurs, over every subgraph, sorted by count then name."""
    return _sorted(Counter(name for name, _ in _operators(path)))


def compute_op_histogram(path: Path | str) -> dict[str, int]:
    """op_histogram without layout ops (LAYOUT_OPS) and shape arithmetic (ops whose outputs are all int32/int64
    scalars or vectors, e.g. SHAPE -> GATHER -> CONCATENATION building a runtime batch size)."""
    return _sorted(Counter(name for name, shape_only in _operators(path)
                           if not shape_only and name not in LAYOUT_OPS))
