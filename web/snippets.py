"""Short load-and-run snippets per runtime, filled with a lane's file names, tensor names and int8 parameters."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from web.catalog import Artifact, Catalogue
from web.stage import model_dir

Locate = Callable[[Artifact], str]  # where the reader finds an artifact's main file (site or archive path)


def site_path(artifact: Artifact) -> str:
    return f"{model_dir(artifact)}/{artifact.main}"


@dataclass(frozen=True)
class Snippet:
    runtime: str
    language: str
    code: str


def _io_names(artifact: Artifact) -> tuple[str, str]:
    sig = artifact.entry["signature"]
    return sig["inputs"][0]["name"].split(":")[0], sig["outputs"][0]["name"].split(":")[0]


def _int8(artifact: Artifact) -> tuple[float, int, float, int]:
    q = artifact.quantization
    return q["input"]["scale"], q["input"]["zero_point"], q["output"]["scale"], q["output"]["zero_point"]


def kotlin(lane: str, artifact: Artifact, locate: Locate) -> Snippet:
    in_s, in_z, out_s, out_z = _int8(artifact)
    code = f"""\
// build.gradle: implementation("com.google.ai.edge.litert:litert:<version>") and litert-support
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.support.common.FileUtil
import java.nio.ByteBuffer
import java.nio.ByteOrder

// assets/mnist-{lane}-int8.tflite = {locate(artifact)}
val interpreter = Interpreter(FileUtil.loadMappedFile(context, "mnist-{lane}-int8.tflite"))
interpreter.resizeInput(0, intArrayOf(1, 28, 28))
interpreter.allocateTensors()

// int8 in and out: q = round(x / scale) + zero_point, x = (q - zero_point) * scale
val inScale = {in_s!r}f; val inZero = {in_z}
val outScale = {out_s!r}f; val outZero = {out_z}
val input = ByteBuffer.allocateDirect(28 * 28).order(ByteOrder.nativeOrder())
for (p in pixels) input.put((Math.round(p / inScale) + inZero).coerceIn(-128, 127).toByte())  // pixels: FloatArray(784) in [0, 1]
input.rewind()
val output = Array(1) {{ ByteArray(10) }}
interpreter.run(input, output)
val probabilities = output[0].map {{ (it - outZero) * outScale }}"""
    return Snippet("LiteRT on Android (Kotlin)", "kotlin", code)


def swift(lane: str, artifact: Artifact, locate: Locate) -> Snippet:
    in_s, in_z, out_s, out_z = _int8(artifact)
    code = f"""\
// Podfile: pod 'TensorFlowLiteSwift'  (LiteRT for iOS)
import TensorFlowLite

// mnist-{lane}-int8.tflite in the app bundle = {locate(artifact)}
let path = Bundle.main.path(forResource: "mnist-{lane}-int8", ofType: "tflite")!
let interpreter = try Interpreter(modelPath: path)
try interpreter.resizeInput(at: 0, to: Tensor.Shape([1, 28, 28]))
try interpreter.allocateTensors()

// int8 in and out: q = round(x / scale) + zero_point, x = (q - zero_point) * scale
let inScale: Float = {in_s!r}, inZero = {in_z}
let outScale: Float = {out_s!r}, outZero = {out_z}
let q = pixels.map {{ Int8(clamping: Int(($0 / inScale).rounded()) + inZero) }}  // pixels: [Float] (784) in [0, 1]
try interpreter.copy(q.withUnsafeBufferPointer {{ Data(buffer: $0) }}, toInputAt: 0)
try interpreter.invoke()
let probabilities = try interpreter.output(at: 0).data.map {{ (Float(Int8(bitPattern: $0)) - Float(outZero)) * outScale }}"""
    return Snippet("LiteRT on iOS (Swift)", "swift", code)


def tfjs(artifact: Artifact, locate: Locate) -> Snippet:
    name, _ = _io_names(artifact)
    code = f"""\
import * as tf from '@tensorflow/tfjs';

await tf.setBackend('cpu');  // or 'webgl' / 'webgpu' where available
const model = await tf.loadGraphModel('{locate(artifact)}');
const x = tf.tensor(pixels, [1, 28, 28], 'float32');  // pixels: Float32Array(784) in [0, 1]
const probabilities = await model.predict({{ {name}: x }}).data();"""
    return Snippet("TF.js (tf.loadGraphModel)", "javascript", code)


def onnx_web(artifact: Artifact, locate: Locate) -> Snippet:
    name, out = _io_names(artifact)
    code = f"""\
import * as ort from 'onnxruntime-web';

ort.env.wasm.numThreads = 1;  // more threads need a cross-origin-isolated page
const session = await ort.InferenceSession.create('{locate(artifact)}', {{ executionProviders: ['wasm'] }});
const x = new ort.Tensor('float32', pixels, [1, 28, 28]);  // pixels: Float32Array(784) in [0, 1]
const {{ {out} }} = await session.run({{ {name}: x }});
const probabilities = {out}.data;"""
    return Snippet("onnxruntime-web (ort.InferenceSession.create)", "javascript", code)


def for_lane(catalogue: Catalogue, lane: str, locate: Locate = site_path) -> list[Snippet]:
    """One snippet per runtime whose artifact the lane has."""
    out = []
    if (a := catalogue.get(lane, "tflite-int8")) and a.quantization.keys() == {"input", "output"}:
        out += [kotlin(lane, a, locate), swift(lane, a, locate)]
    if a := catalogue.get(lane, "tfjs"):
        out.append(tfjs(a, locate))
    if a := catalogue.get(lane, "onnx"):
        out.append(onnx_web(a, locate))
    return out
