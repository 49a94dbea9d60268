"""kserve's DataPlane with readiness over all models and version/label resolution."""
from __future__ import annotations

from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane

from rosetta.serving.runtime.model import PLATFORM, OnnxModel
from rosetta.serving.runtime.versions import VersionedModel


class ServingDataPlane(DataPlane):
    def __init__(self, model_registry: ModelRepository, expected_models: list[str]) -> None:
        super().__init__(model_registry=model_registry)
        self.expected_models = list(expected_models)

    async def ready(self) -> bool:
        """Ready only when every model of the manifest is registered and loaded (kserve's says always).
        Hot reload swaps versions inside a registered model, so it never makes this false."""
        models = self.model_registry.get_models()
        if not self.expected_models or any(name not in models for name in self.expected_models):
            return False
        return all([await models[name].healthy() for name in self.expected_models])

    def versioned_model(self, name: str) -> VersionedModel:
        return self.get_model_from_registry(name)

    def served_model(self, name: str, version: str | None = None, label: str | None = None) -> OnnxModel:
        """The version asked for (none: the latest served one), or ModelNotFound / ModelVersionNotFound /
        ModelLabelNotFound (HTTP 404, gRPC NOT_FOUND) naming what is served."""
        return self.versioned_model(name).resolve(version, label)

    async def model_metadata(self, model_name: str, version: str | None = None, label: str | None = None) -> dict:
        """KServe v2 metadata: every served version, and the inputs/outputs of the version asked for."""
        front = self.versioned_model(model_name)
        model = front.resolve(version, label)
        return {"name": model_name, "versions": [str(v) for v in front.versions], "platform": PLATFORM,
                "inputs": model.get_input_types(), "outputs": model.get_output_types()}
