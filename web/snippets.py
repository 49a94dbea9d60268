"""Short load-and-run snippets per runtime, generated from a model's spec and an artifact's signature.

Every input and output of the spec appears, by its name, with its dtype, one example's shape and layout, and
(for integer-only TFLite) the quantize / dequantize step with that tensor's own scale and zero point.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from rosetta.web.catalog import Artifact, Catalogue, Model
from rosetta.web.stage import model_dir
from rosetta.web.tensors import Io, Tensor, io

Locate = Callable[[Artifact], str]  # where the reader finds an artifact's main file (site or archive path)

# numpy dtype -> (bytes, Kotlin ByteBuffer put/get suffix, Swift element type, JS typed array)
_TYPES = {
    "float32": (4, "Float", "Float32", "Float32Array"), "float64": (8, "Double", "Float64", "Float64Array"),
    "int32": (4, "Int", "Int32", "Int32Array"), "int64": (8, "Long", "Int64", "BigInt64Array"),
    "int8": (1, "", "Int8", "Int8Array"), "uint8": (1, "", "UInt8", "Uint8Array"),
    "bool": (1, "", "Bool", "Uint8Array"), "float16": (2, "Short", "UInt16", "Uint16Array"),
}
_TFJS_DTYPES = {"float32": "float32", "int32": "int32", "int64": "int32", "bool": "bool", "uint8": "int32",
                "int8": "int32"}  # TF.js tensors know only float32 / int32 / bool


def site_path(artifact: Artifact) -> str:
    return f"{model_dir(artifact)}/{artifact.main}"


@dataclass(frozen=True)
class Snippet:
    runtime: str
    language: str
    code: str


def ident(name: str, prefix: str = "") -> str:
    """A tensor name as a code identifier (names may hold '/', '.', ':' or start with a digit)."""
    out = re.sub(r"\W", "_", name)
    return prefix + out if prefix or not out[0].isdigit() else f"t_{out}"


def _describe(t: Tensor) -> str:
    layout = f" ({t.spec.layout})" if t.spec.layout else ""
    free = " (free dims set to 1 here: use your sizes)" if any(d < 0 for d in t.spec.shape[1:]) else ""
    kind = f", {t.spec.kind}" if t.spec.kind else ""
    return f"{t.name}: {t.spec.datatype} {t.example_shape}{layout}{kind}{free}"


def _types(t: Tensor) -> tuple[int, str, str, str]:
    return _TYPES.get(t.dtype, _TYPES["float32"])


def kotlin(model: Model, artifact: Artifact, locate: Locate) -> Snippet:
    tensors = io(model, artifact)
    asset = f"{model.name}-{artifact.format}.tflite"
    lines = ['// build.gradle: implementation("com.google.ai.edge.litert:litert:<version>") and litert-support',
             "import org.tensorflow.lite.Interpreter", "import org.tensorflow.lite.support.common.FileUtil",
             "import java.nio.ByteBuffer", "import java.nio.ByteOrder", "",
             f"// assets/{asset} = {locate(artifact)}",
             f'val interpreter = Interpreter(FileUtil.loadMappedFile(context, "{asset}"))',
             "// one example (batch 1, the converted model's default shape), tensors by their signature names", ""]
    if _quantized(tensors):
        lines.append("// int8 tensors: q = round(x / scale) + zero_point, x = (q - zero_point) * scale")
    for t in tensors.inputs:
        size, put, _, _ = _types(t)
        var, src = ident(t.name), ident(t.name, "values_")
        lines.append(f"// {_describe(t)}; {src}: {'FloatArray' if t.spec.datatype.startswith('FP') else 'array'}"
                     f"({t.size}) in that layout")
        lines.append(f"val {var} = ByteBuffer.allocateDirect({t.size * size}).order(ByteOrder.nativeOrder())")
        if q := t.quantization:
            lo, hi = (0, 255) if t.dtype == "uint8" else (-128, 127)
            lines.append(f"for (v in {src}) {var}.put((Math.round(v / {q['scale']!r}f) + ({q['zero_point']}))"
                         f".coerceIn({lo}, {hi}).toByte())")
        else:
            lines.append(f"for (v in {src}) {var}.put{put}(v)")
        lines.append(f"{var}.rewind()")
    for t in tensors.outputs:
        size = _types(t)[0]
        lines.append(f"val {ident(t.name)} = ByteBuffer.allocateDirect({t.size * size})"
                     ".order(ByteOrder.nativeOrder())  // " + _describe(t))
    ins = ", ".join(f'"{t.name}" to {ident(t.name)}' for t in tensors.inputs)
    outs = ", ".join(f'"{t.name}" to {ident(t.name)}' for t in tensors.outputs)
    lines.append(f"interpreter.runSignature(mapOf({ins}), mapOf({outs}))")
    for t in tensors.outputs:
        var, get = ident(t.name), _types(t)[1]
        lines.append(f"{var}.rewind()")
        if q := t.quantization:
            raw = f"({var}.get().toInt() and 0xFF)" if t.dtype == "uint8" else f"{var}.get()"
            lines.append(f"val {ident(t.name, 'values_')} = FloatArray({t.size}) "
                         f"{{ ({raw} - ({q['zero_point']})) * {q['scale']!r}f }}")
        else:
            lines.append(f"val {ident(t.name, 'values_')} = {get}Array({t.size}) {{ {var}.get{get}() }}"
                         if get else f"val {ident(t.name, 'values_')} = ByteArray({t.size}) {{ {var}.get() }}")
    return Snippet(f"LiteRT on Android (Kotlin), {artifact.format}", "kotlin", "\n".join(lines))


def swift(model: Model, artifact: Artifact, locate: Locate) -> Snippet:
    tensors = io(model, artifact)
    resource = f"{model.name}-{artifact.format}"
    lines = ["// Podfile: pod 'TensorFlowLiteSwift'  (LiteRT for iOS)", "import TensorFlowLite", "",
             f"// {resource}.tflite in the app bundle = {locate(artifact)}",
             f'let path = Bundle.main.path(forResource: "{resource}", ofType: "tflite")!',
             "let interpreter = try Interpreter(modelPath: path)",
             "let runner = try interpreter.signatureRunner(with: interpreter.signatureKeys[0])",
             "try runner.allocateTensors()  // one example: batch 1, the converted model's default shape", ""]
    if _quantized(tensors):
        lines.append("// int8 tensors: q = round(x / scale) + zero_point, x = (q - zero_point) * scale")
    for t in tensors.inputs:
        src, elem = ident(t.name, "values_"), _types(t)[2]
        lines.append(f"// {_describe(t)}; {src}: [{'Float' if t.quantization else elem}] ({t.size}) in that layout")
        if q := t.quantization:
            lines.append(f"let {ident(t.name, 'q_')} = {src}.map {{ Int8(clamping: Int(($0 / {q['scale']!r})"
                         f".rounded()) + ({q['zero_point']})) }}")
            src = ident(t.name, "q_")
        lines.append(f'try runner.copy({src}.withUnsafeBufferPointer {{ Data(buffer: $0) }}, toInputNamed: "{t.name}")')
    lines.append("try runner.invoke()")
    for t in tensors.outputs:
        var, elem = ident(t.name, "values_"), _types(t)[2]
        data = f'try runner.output(named: "{t.name}").data'
        if q := t.quantization:
            lines.append(f"let {var} = {data}.map {{ (Float(Int8(bitPattern: $0)) - ({q['zero_point']})) "
                         f"* {q['scale']!r} }}  // {_describe(t)}")
        else:
            lines.append(f"let {var} = {data}.withUnsafeBytes {{ Array($0.bindMemory(to: {elem}.self)) }}"
                         f"  // {_describe(t)}")
    return Snippet(f"LiteRT on iOS (Swift), {artifact.format}", "swift", "\n".join(lines))


def tfjs(model: Model, artifact: Artifact, locate: Locate) -> Snippet:
    tensors = io(model, artifact)
    lines = ["import * as tf from '@tensorflow/tfjs';", "",
             "await tf.setBackend('cpu');  // or 'webgl' / 'webgpu' where available",
             f"const model = await tf.loadGraphModel('{locate(artifact)}');"]
    for t in tensors.inputs:
        lines.append(f"// {_describe(t)}; {ident(t.name, 'values_')}: {_types(t)[3]}({t.size}) in that layout")
    feeds = ", ".join(f"{json.dumps(t.name)}: tf.tensor({ident(t.name, 'values_')}, {t.example_shape}, "
                      f"'{_TFJS_DTYPES.get(t.dtype, 'float32')}')" for t in tensors.inputs)
    names = [t.name for t in tensors.outputs]
    if len(names) == 1:
        lines.append(f"const y = model.execute({{ {feeds} }}, {json.dumps(names)});"
                     f"  // {_describe(tensors.outputs[0])}")
        lines.append(f"const {ident(names[0], 'values_')} = await y.data();")
    else:
        lines.append(f"const ys = model.execute({{ {feeds} }}, {json.dumps(names)});  // in this order")
        for i, t in enumerate(tensors.outputs):
            lines.append(f"const {ident(t.name, 'values_')} = await ys[{i}].data();  // {_describe(t)}")
    return Snippet("TF.js (tf.loadGraphModel)", "javascript", "\n".join(lines))


def onnx_web(model: Model, artifact: Artifact, locate: Locate) -> Snippet:
    tensors = io(model, artifact)
    lines = ["import * as ort from 'onnxruntime-web';", "",
             "ort.env.wasm.numThreads = 1;  // more threads need a cross-origin-isolated page",
             f"const session = await ort.InferenceSession.create('{locate(artifact)}', "
             "{ executionProviders: ['wasm'] });"]
    for t in tensors.inputs:
        lines.append(f"// {_describe(t)}; {ident(t.name, 'values_')}: {_types(t)[3]}({t.size}) in that layout")
    feeds = ", ".join(f"{json.dumps(t.name)}: new ort.Tensor('{t.dtype}', {ident(t.name, 'values_')}, "
                      f"{t.example_shape})" for t in tensors.inputs)
    lines.append(f"const results = await session.run({{ {feeds} }});")
    for t in tensors.outputs:
        lines.append(f"const {ident(t.name, 'values_')} = results[{json.dumps(t.name)}].data;  // {_describe(t)}")
    return Snippet("onnxruntime-web (ort.InferenceSession.create)", "javascript", "\n".join(lines))


_NUMPY = {"float32": "np.float32", "float64": "np.float64", "int32": "np.int32", "int64": "np.int64",
          "int8": "np.int8", "uint8": "np.uint8", "bool": "np.bool_", "float16": "np.float16"}
_CPP = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t", "int8": "int8_t",
        "uint8": "uint8_t", "bool": "bool", "float16": "ov::float16"}


def _python_inputs(tensors: Io) -> list[str]:
    return [f"{ident(t.name)} = np.zeros({t.example_shape}, {_NUMPY.get(t.dtype, 'np.float32')})  # {_describe(t)}"
            for t in tensors.inputs]


def onnx_python(model: Model, artifact: Artifact, locate: Locate) -> Snippet:
    """ONNX Runtime in Python: the fp16 and int8 variants take and return float32 like `onnx`."""
    tensors = io(model, artifact)
    feeds = ", ".join(f"{t.name!r}: {ident(t.name)}" for t in tensors.inputs)
    lines = ["import numpy as np", "import onnxruntime as ort", "",
             f'session = ort.InferenceSession("{locate(artifact)}", providers=["CPUExecutionProvider"])',
             *_python_inputs(tensors),
             f"{', '.join(ident(t.name) for t in tensors.outputs)}, = session.run("
             f"{[t.name for t in tensors.outputs]}, {{{feeds}}})"]
    lines += [f"# {_describe(t)}" for t in tensors.outputs]
    return Snippet(f"ONNX Runtime (Python), {artifact.format}", "python", "\n".join(lines))


def openvino_python(model: Model, artifact: Artifact, locate: Locate) -> Snippet:
    tensors = io(model, artifact)
    lines = ["import numpy as np", "import openvino as ov", "",
             "core = ov.Core()",
             f'compiled = core.compile_model("{locate(artifact)}", "CPU")  # model.bin beside it',
             *_python_inputs(tensors),
             f"result = compiled({{{', '.join(f'{t.name!r}: {ident(t.name)}' for t in tensors.inputs)}}})"]
    lines += [f'{ident(t.name)} = result[compiled.output("{t.name}")]  # {_describe(t)}' for t in tensors.outputs]
    return Snippet("OpenVINO (Python)", "python", "\n".join(lines))


def openvino_cpp(model: Model, artifact: Artifact, locate: Locate) -> Snippet:
    tensors = io(model, artifact)
    lines = ["#include <openvino/openvino.hpp>", "", "ov::Core core;",
             f'ov::CompiledModel compiled = core.compile_model("{locate(artifact)}", "CPU");  // model.bin beside it',
             "ov::InferRequest request = compiled.create_infer_request();"]
    for t in tensors.inputs:
        ctype = _CPP.get(t.dtype, "float")
        shape = ", ".join(map(str, t.example_shape))
        lines += [f"// {_describe(t)}",
                  f'ov::Tensor {ident(t.name)}(ov::element::from<{ctype}>(), ov::Shape{{{shape}}});',
                  f"// fill {ident(t.name)}.data<{ctype}>() with {t.size} values in that layout",
                  f'request.set_tensor("{t.name}", {ident(t.name)});']
    lines.append("request.infer();")
    for t in tensors.outputs:
        ctype = _CPP.get(t.dtype, "float")
        lines.append(f'const {ctype}* {ident(t.name, "values_")} = request.get_tensor("{t.name}").data<{ctype}>();'
                     f"  // {_describe(t)}")
    return Snippet("OpenVINO (C++)", "cpp", "\n".join(lines))


def executorch_python(model: Model, artifact: Artifact, locate: Locate) -> Snippet:
    tensors = io(model, artifact)
    lines = ["import torch", "from executorch.runtime import Runtime", "",
             f'method = Runtime.get().load_program("{locate(artifact)}").load_method("forward")']
    lines += [f"{ident(t.name)} = torch.zeros({t.example_shape}, dtype=torch.{t.dtype})  # {_describe(t)}"
              for t in tensors.inputs]
    lines.append(f"outputs = method.execute([{', '.join(ident(t.name) for t in tensors.inputs)}])  "
                 "# positional, in this order")
    lines += [f"{ident(t.name)} = outputs[{i}]  # {_describe(t)}" for i, t in enumerate(tensors.outputs)]
    return Snippet("ExecuTorch (Python)", "python", "\n".join(lines))


def executorch_kotlin(model: Model, artifact: Artifact, locate: Locate) -> Snippet:
    tensors = io(model, artifact)
    asset = f"{model.name}.pte"
    lines = ['// build.gradle: implementation("org.pytorch:executorch-android:<version>")',
             "import org.pytorch.executorch.EValue", "import org.pytorch.executorch.Module",
             "import org.pytorch.executorch.Tensor", "",
             f"// {asset} copied to the app's files dir = {locate(artifact)}",
             f'val module = Module.load(context.filesDir.resolve("{asset}").absolutePath)']
    for t in tensors.inputs:
        shape = ", ".join(f"{d}L" for d in t.example_shape)
        lines += [f"// {_describe(t)}; {ident(t.name, 'values_')}: FloatArray({t.size}) in that layout",
                  f"val {ident(t.name)} = Tensor.fromBlob({ident(t.name, 'values_')}, longArrayOf({shape}))"]
    lines.append(f"val outputs = module.forward({', '.join(f'EValue.from({ident(t.name)})' for t in tensors.inputs)})")
    lines += [f"val {ident(t.name, 'values_')} = outputs[{i}].toTensor().dataAsFloatArray  // {_describe(t)}"
              for i, t in enumerate(tensors.outputs)]
    return Snippet("ExecuTorch on Android (Kotlin)", "kotlin", "\n".join(lines))


def _quantized(tensors: Io) -> bool:
    return any(t.quantization for t in (*tensors.inputs, *tensors.outputs))


def for_model(model: Model, locate: Locate = site_path) -> list[Snippet]:
    """One snippet per runtime (and per TFLite variant) whose artifact the model has."""
    out = []
    for fmt in ("tflite-int8", "tflite-fp32", "tflite-fp16"):
        if a := model.get(fmt):
            out += [kotlin(model, a, locate), swift(model, a, locate)]
    if a := model.get("tfjs"):
        out.append(tfjs(model, a, locate))
    if a := model.get("onnx"):
        out.append(onnx_web(model, a, locate))
    for fmt in ("onnx-fp16", "onnx-int8"):
        if a := model.get(fmt):
            out.append(onnx_python(model, a, locate))
    if a := model.get("openvino"):
        out += [openvino_python(model, a, locate), openvino_cpp(model, a, locate)]
    if a := model.get("executorch"):
        out += [executorch_python(model, a, locate), executorch_kotlin(model, a, locate)]
    return out


def for_catalogue(catalogue: Catalogue, locate: Locate = site_path) -> dict[str, list[Snippet]]:
    return {m.name: for_model(m, locate) for m in catalogue.models}
