"""kserve's DataPlane with readiness over all models and versioned model lookup."""
from __future__ import annotations

from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane

from serving.runtime.model import PLATFORM, OnnxModel


class ServingDataPlane(DataPlane):
    def __init__(self, model_registry: ModelRepository, expected_models: list[str]) -> None:
        super().__init__(model_registry=model_registry)
        self.expected_models = list(expected_models)

    async def ready(self) -> bool:
        """Ready only when every model of the manifest is registered and loaded (kserve's says always)."""
        models = self.model_registry.get_models()
        if not self.expected_models or any(name not in models for name in self.expected_models):
            return False
        return all([await models[name].healthy() for name in self.expected_models])

    def served_model(self, name: str, version: str | None = None) -> OnnxModel:
        """The model, or ModelNotFound / ModelVersionNotFound (HTTP 404, gRPC NOT_FOUND)."""
        model = self.get_model_from_registry(name)
        model.check_version(version)
        return model

    async def model_metadata(self, model_name: str) -> dict:
        metadata = await super().model_metadata(model_name)
        model = self.served_model(model_name)
        return {**metadata, "versions": [str(model.version)], "platform": PLATFORM}
