"""One served version of an ONNX model: its ORT session, behind the dynamic batcher. Requests reach it through
its model's VersionedModel (serving/runtime/versions.py), which resolves the version or label asked for."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from kserve import Model
from kserve.errors import ModelNotFound
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from rosetta.core.manifest import ServedVersion
from rosetta.core.spec import TensorSpec
from rosetta.serving.protocols.tensors import check_inputs
from rosetta.serving.protocols.v2_inputs import binary_flags, inputs_from_request, requested_outputs
from rosetta.serving.runtime.batcher import DirectRunner, DynamicBatcher, Tensors
from rosetta.serving.runtime.repository import IntegrityError, read_verified, verify_files
from rosetta.serving.runtime.session import create_session
from rosetta.serving.server.config import ServeConfig
from rosetta.serving.server.metrics import BATCH_SIZE

log = logging.getLogger(__name__)

FORMAT = "onnx"  # the manifest format this server serves
PLATFORM = "onnxruntime_onnx"
# ORT's type strings for the spec's datatypes: the file must take and return what the spec says.
ORT_TYPES = {"FP32": "tensor(float)", "FP64": "tensor(double)", "FP16": "tensor(float16)", "INT64": "tensor(int64)",
             "INT32": "tensor(int32)", "INT16": "tensor(int16)", "INT8": "tensor(int8)", "UINT8": "tensor(uint8)",
             "BOOL": "tensor(bool)"}


def _served_text(versions: list[int], labels: dict[str, int]) -> str:
    named = ", ".join(f"{label} -> {v}" for label, v in sorted(labels.items())) or "none"
    return f"served versions: {', '.join(map(str, versions))}; labels: {named}"


class ModelVersionNotFound(ModelNotFound):
    """kserve maps ModelNotFound to HTTP 404 and gRPC NOT_FOUND; this names the missing version and what is served."""

    def __init__(self, name: str, version: str, served: list[int], labels: dict[str, int]) -> None:
        super().__init__(name)
        self.reason = f"Model {name} has no version {version}; {_served_text(served, labels)}"


class ModelVersionRetired(ModelNotFound):
    def __init__(self, name: str, version: int) -> None:
        super().__init__(name)
        self.reason = (f"Model {name} version {version} was retired while this request was on its way; "
                       "send it again (unaddressed requests go to the latest served version)")


class ModelLabelNotFound(ModelNotFound):
    def __init__(self, name: str, label: str, served: list[int], labels: dict[str, int]) -> None:
        super().__init__(name)
        self.reason = f"Model {name} has no label {label!r}; {_served_text(served, labels)}"


def _mismatches(side: str, declared: tuple[TensorSpec, ...], actual: list[Any]) -> list[str]:
    """How the ONNX file's inputs or outputs differ from the spec (names, types, ranks, fixed sizes)."""
    found = {a.name: a for a in actual}
    if set(found) != {t.name for t in declared}:
        return [f"{side} {sorted(found)} in the file, {[t.name for t in declared]} in the spec"]
    problems = []
    for t in declared:
        a = found[t.name]
        if a.type != ORT_TYPES.get(t.datatype):
            problems.append(f"{side[:-1]} '{t.name}' is {a.type} in the file, {t.datatype} in the spec")
        fixed = [d if isinstance(d, int) else -1 for d in a.shape]
        if len(fixed) != len(t.shape) or any(f != -1 and d != -1 and f != d for f, d in zip(fixed, t.shape)):
            problems.append(f"{side[:-1]} '{t.name}' has shape {a.shape} in the file, {list(t.shape)} in the spec")
    return problems


def _warmup_inputs(model: ServedVersion) -> Tensors:
    """The smallest batch of zeros the spec allows; free non-batch dimensions take their smallest size."""
    return {t.name: np.zeros([t.range(a)[0] if d == -1 else d for a, d in enumerate(t.shape)], t.dtype)
            for t in model.spec.inputs}


class OnnxModel(Model):
    def __init__(self, served: ServedVersion, path: Path, config: ServeConfig) -> None:
        super().__init__(served.name)
        self.served = served
        self.spec = served.spec
        self.path = path
        self.config = config
        self.session: Any = None
        self.runner: DynamicBatcher | DirectRunner | None = None
        self.in_flight = 0  # requests inside infer(): a retired version closes only once this is 0
        self._output_names = self.spec.output_names

    @property
    def version(self) -> int:
        return self.served.version

    def load(self) -> bool:
        if self.served.entry.files:  # external data: ORT reads the verified files beside the model file
            verify_files(self.path.parent, self.served)
            data: bytes | str = str(self.path)
        else:
            data = read_verified(self.path, self.served)
        try:
            session = create_session(data, self.config.intra_op_threads)
        except Exception as exc:  # ORT's own errors (not a model, unsupported opset, external data)
            raise IntegrityError(f"{self.name}: ONNX Runtime cannot load {self.path}: {exc}") from None
        problems = (_mismatches("inputs", self.spec.inputs, session.get_inputs())
                    + _mismatches("outputs", self.spec.outputs, session.get_outputs()))
        if problems:
            raise IntegrityError(f"{self.name}: the model file does not match its spec: {'; '.join(problems)}")
        self.session = session
        try:
            self._run(_warmup_inputs(self.served))  # the first run allocates; keep that off the first request
        except Exception as exc:  # a free dimension may need another size; requests will still say what fails
            log.warning("%s: warm-up run failed (%s); serving without it", self.name, exc)
        observe = BATCH_SIZE.labels(self.name).observe  # per model, not per version: a bounded series count
        if self.config.batching:
            self.runner = DynamicBatcher(self._run, max_batch_size=self.config.max_batch_size,
                                         max_delay_s=self.config.max_delay_ms / 1000, name=self.name, on_batch=observe)
        else:
            self.runner = DirectRunner(self._run, name=self.name, on_batch=observe)
        self.ready = True
        return self.ready

    def stop(self) -> None:
        """Close the batcher and drop the session (its memory goes with the last reference)."""
        if self.runner is not None:
            self.runner.close()
        self.runner = None
        self.session = None
        self.ready = False
        super().stop()

    def _run(self, inputs: Tensors) -> Tensors:
        return dict(zip(self._output_names, self.session.run(self._output_names, inputs), strict=True))

    async def infer(self, inputs: Tensors) -> Tensors:
        """Named input arrays in (checked against the spec), every output out; the one path every protocol takes."""
        check_inputs(inputs, self.spec.inputs, self.config.max_request_rows)
        # Resolved before its version's retirement, arrived after the drain (see model_table.LATE_ARRIVAL_S).
        if self.runner is None:
            raise ModelVersionRetired(self.name, self.version)
        self.in_flight += 1
        try:
            return await self.runner.submit(inputs)
        finally:
            self.in_flight -= 1

    async def predict(self, payload: InferRequest, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> InferResponse:
        """The version was resolved by the VersionedModel that handed the request over."""
        selected = requested_outputs(payload, self.spec)
        results = await self.infer(inputs_from_request(payload, self.spec))
        outputs = []
        for t in selected:
            array = results[t.name]
            output = InferOutput(name=t.name, shape=list(array.shape), datatype=t.datatype)
            if payload.from_grpc:  # raw bytes now: kserve 0.21's to_grpc fails on ndarray data after raw inputs
                output.set_data_from_numpy(array, binary_data=True)
            else:
                output.data = array
            outputs.append(output)
        return InferResponse(response_id=payload.id or "", model_name=self.name, model_version=str(self.version),
                             infer_outputs=outputs, use_binary_outputs=payload.use_binary_outputs,
                             requested_outputs=binary_flags(payload))

    def get_input_types(self) -> list[dict]:
        return [v2_metadata(t) for t in self.spec.inputs]

    def get_output_types(self) -> list[dict]:
        return [v2_metadata(t) for t in self.spec.outputs]


def v2_metadata(t: TensorSpec) -> dict:
    return {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
