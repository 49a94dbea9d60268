"""One served ONNX model: a kserve.Model whose predict goes through the dynamic batcher to ORT."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kserve import Model
from kserve.errors import ModelNotFound
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from serving.batcher import DirectRunner, DynamicBatcher
from serving.config import ServeConfig
from serving.manifest import ModelSpec, TensorSpec
from serving.metrics import BATCH_SIZE
from serving.repository import IntegrityError, read_verified
from serving.session import create_session
from serving.v2_inputs import check_requested_outputs, images_from_request
from serving.validation import check_batch

PLATFORM = "onnxruntime_onnx"


class ModelVersionNotFound(ModelNotFound):
    """kserve maps ModelNotFound to HTTP 404 and gRPC NOT_FOUND; this names the missing version."""

    def __init__(self, name: str, version: str, served: int) -> None:
        super().__init__(name)
        self.reason = f"Model {name} has no version {version}; served version: {served}"


class OnnxModel(Model):
    def __init__(self, spec: ModelSpec, path: Path, config: ServeConfig) -> None:
        super().__init__(spec.name)
        self.spec = spec
        self.path = path
        self.config = config
        self.session: Any = None
        self.runner: DynamicBatcher | DirectRunner | None = None

    def load(self) -> bool:
        session = create_session(read_verified(self.path, self.spec), self.config.intra_op_threads)
        inputs = [(i.name, i.shape) for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if [n for n, _ in inputs] != [self.spec.input.name] or outputs != [self.spec.output.name]:
            raise IntegrityError(f"{self.name}: model file has inputs {inputs} and outputs {outputs}, the manifest "
                                 f"says '{self.spec.input.name}' -> '{self.spec.output.name}'")
        self.session = session
        self._run(np.zeros((1, *self.spec.input.shape[1:]), dtype=np.float32))  # warm-up: first run allocates
        observe = BATCH_SIZE.labels(self.name).observe
        if self.config.batching:
            self.runner = DynamicBatcher(self._run, max_batch_size=self.config.max_batch_size,
                                         max_delay_s=self.config.max_delay_ms / 1000, name=self.name, on_batch=observe)
        else:
            self.runner = DirectRunner(self._run, name=self.name, on_batch=observe)
        self.ready = True
        return self.ready

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.close()
        super().stop()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.spec.output.name], {self.spec.input.name: batch})[0]

    def check_version(self, version: str | int | None) -> None:
        """Empty/None means the served version; any other version is not found."""
        if version not in (None, "") and str(version) != str(self.spec.version):
            raise ModelVersionNotFound(self.name, str(version), self.spec.version)

    async def infer(self, x: np.ndarray) -> np.ndarray:
        """Validated batch in, probabilities out; the one path every protocol takes."""
        check_batch(x, self.spec.input, self.config.max_request_rows)
        return await self.runner.submit(x)

    async def predict(self, payload: InferRequest, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> InferResponse:
        self.check_version(payload.model_version)
        check_requested_outputs(payload, self.spec)
        probs = await self.infer(images_from_request(payload, self.spec))
        output = InferOutput(name=self.spec.output.name, shape=list(probs.shape), datatype=self.spec.output.v2_datatype)
        if payload.from_grpc:  # raw bytes now: kserve 0.21's to_grpc fails on ndarray data after raw inputs
            output.set_data_from_numpy(probs, binary_data=True)
        else:
            output.data = probs
        return InferResponse(response_id=payload.id or "", model_name=self.name, model_version=str(self.spec.version),
                             infer_outputs=[output], use_binary_outputs=payload.use_binary_outputs,
                             requested_outputs=payload.request_outputs)

    def get_input_types(self) -> list[dict]:
        return [_v2_metadata(self.spec.input)]

    def get_output_types(self) -> list[dict]:
        return [_v2_metadata(self.spec.output)]


def _v2_metadata(t: TensorSpec) -> dict:
    return {"name": t.name, "datatype": t.v2_datatype, "shape": t.v2_shape}
