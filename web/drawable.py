"""Which models the drawing demo can run: one float image input and one classifier output, sized by the spec."""
from __future__ import annotations

from typing import Any

from rosetta.core.spec import ModelSpec

# layout -> (shape of one example as a function of H, W), for the grey-scale layouts the pad can produce
_LAYOUTS = {"NHW": lambda h, w: [1, h, w], "NHWC": lambda h, w: [1, h, w, 1], "NCHW": lambda h, w: [1, 1, h, w]}


def drawing_demo(spec: ModelSpec) -> dict[str, Any] | str:
    """The demo's plan for this model, or why it has none (shown on the page).

    A plan: {"input", "output", "height", "width", "shape" (one example), "classes", "kind"}.
    """
    if len(spec.inputs) != 1 or len(spec.outputs) != 1:
        return (f"the drawing demo takes one image input and one classifier output; this model has "
                f"{len(spec.inputs)} input(s) and {len(spec.outputs)} output(s)")
    x, y = spec.inputs[0], spec.outputs[0]
    if x.datatype not in ("FP32", "FP16"):
        return f"its input {x.name} is {x.datatype}; the pad draws float pixels in [0, 1]"
    layout = x.layout or {3: "NHW"}.get(len(x.shape))  # a rank-3 input without a layout is [N, H, W]
    if layout not in _LAYOUTS or len(x.shape) != len(layout):
        return (f"its input {x.name} has shape {list(x.shape)} (layout {x.layout}); the pad makes one grey "
                "image as [N, H, W], [N, H, W, 1] (NHWC) or [N, 1, H, W] (NCHW)")
    dims = dict(zip(layout, x.shape))
    if dims.get("C", 1) != 1:
        return f"its input {x.name} has {dims['C']} channels; the pad draws one (grey)"
    h, w = dims["H"], dims["W"]
    if h < 1 or w < 1:
        return f"its input {x.name} has a free height or width ({list(x.shape)}); the pad needs a fixed size"
    if not y.is_classifier or len(y.shape) != 2 or y.shape[1] < 2:
        return f"its output {y.name} is not a classifier output [N, classes] with kind probabilities or logits"
    return {"input": x.name, "output": y.name, "height": h, "width": w, "shape": _LAYOUTS[layout](h, w),
            "classes": y.shape[1], "kind": y.kind}
