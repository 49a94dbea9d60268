"""kserve's DataPlane with readiness over all models, models that could not be loaded (and why), and
version/label resolution."""
from __future__ import annotations

from collections.abc import Callable

from kserve.errors import ModelNotReady
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane

from rosetta.serving.runtime.model import PLATFORM, OnnxModel
from rosetta.serving.runtime.versions import VersionedModel


class ModelUnavailable(ModelNotReady):
    """A model the manifest serves but no version of which loaded: 503 / UNAVAILABLE, saying why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name, f"It is unavailable: {reason}")
        self.reason = reason


class ServingDataPlane(DataPlane):
    def __init__(self, model_registry: ModelRepository, expected_models: list[str],
                 unavailable: Callable[[], dict[str, str]] = dict, strict: bool = False,
                 refused: Callable[[], dict[str, str]] = dict) -> None:
        super().__init__(model_registry=model_registry)
        self.expected_models = list(expected_models)
        self.unavailable = unavailable  # model -> why no version of it is served
        self.refused = refused  # "model vN" -> why, for models still served from another version
        self.strict = strict

    async def ready(self) -> bool:
        """Ready when every model of the manifest is registered and loaded (kserve's says always), except that
        a model that could not be loaded (a corrupt file, a spec mismatch) does not hold the others back unless
        the server runs with --strict-models. Hot reload swaps versions inside a registered model, so it never
        makes this false."""
        unavailable = self.unavailable()
        if self.strict and unavailable:
            return False
        models = self.model_registry.get_models()
        waiting = [name for name in self.expected_models if name not in unavailable]
        if not waiting and not any(isinstance(m, VersionedModel) for m in models.values()):
            return False
        if any(name not in models for name in waiting):
            return False
        return all([await models[name].healthy() for name in waiting])

    async def readiness(self) -> dict:
        """The readiness answer's body: KServe's {"ready": ...}, and when anything of the manifest is not served,
        exactly which models (and which versions of served models) and why."""
        body: dict = {"ready": await self.ready()}
        unavailable, refused = self.unavailable(), self.refused()
        if unavailable or refused:
            body.update(strict_models=self.strict, models=sorted(n for n, m in self.model_registry.get_models().items()
                                                                 if isinstance(m, VersionedModel)),
                        unavailable=unavailable, refused_versions=refused)
        return body

    def versioned_model(self, name: str) -> VersionedModel:
        if self.model_registry.get_model(name) is None:
            reason = self.unavailable().get(name)
            if reason is not None:
                raise ModelUnavailable(name, reason)
        return self.get_model_from_registry(name)

    def served_model(self, name: str, version: str | None = None, label: str | None = None) -> OnnxModel:
        """The version asked for (none: the latest served one), or ModelNotFound / ModelVersionNotFound /
        ModelLabelNotFound (HTTP 404, gRPC NOT_FOUND) naming what is served, or ModelUnavailable (503)."""
        return self.versioned_model(name).resolve(version, label)

    async def model_metadata(self, model_name: str, version: str | None = None, label: str | None = None) -> dict:
        """KServe v2 metadata: every served version, and the inputs/outputs of the version asked for."""
        front = self.versioned_model(model_name)
        model = front.resolve(version, label)
        return {"name": model_name, "versions": [str(v) for v in front.versions], "platform": PLATFORM,
                "inputs": model.get_input_types(), "outputs": model.get_output_types()}
