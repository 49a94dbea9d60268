"""One model's served versions and labels: the entry kserve's registry holds under the model's name.

The versions and labels are one immutable snapshot, replaced whole by `swap` (a single attribute store, on
the event loop), so a request sees either the old set or the new one, never a mix. A request resolves its
version once and then holds that OnnxModel; a version swapped out is closed only after its in-flight
requests are done (serving/runtime/model_table.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from kserve import Model
from kserve.protocol.infer_type import InferRequest, InferResponse

from rosetta.serving.runtime.model import ModelLabelNotFound, ModelVersionNotFound, OnnxModel


@dataclass(frozen=True)
class _Snapshot:
    versions: dict[int, OnnxModel]
    labels: dict[str, int]

    @property
    def latest(self) -> OnnxModel:
        return self.versions[max(self.versions)]


class VersionedModel(Model):
    """Resolves a version reference: none -> the latest served version (TF Serving's rule), digits -> that
    version, anything else -> a label. Unknown ones raise ModelNotFound subclasses (404 / NOT_FOUND)."""

    def __init__(self, name: str, versions: dict[int, OnnxModel], labels: dict[str, int]) -> None:
        super().__init__(name)
        self._snapshot = _Snapshot(dict(versions), dict(labels))
        self.ready = bool(versions)

    @property
    def versions(self) -> list[int]:
        return sorted(self._snapshot.versions)

    @property
    def labels(self) -> dict[str, int]:
        return dict(self._snapshot.labels)

    def loaded(self) -> dict[int, OnnxModel]:
        return dict(self._snapshot.versions)

    def swap(self, versions: dict[int, OnnxModel], labels: dict[str, int]) -> list[OnnxModel]:
        """Serve exactly `versions` (non-empty) with `labels` from now on; returns the versions no longer served."""
        if not versions:
            raise ValueError(f"{self.name}: a model keeps at least one served version")
        old = self._snapshot
        self._snapshot = _Snapshot(dict(versions), dict(labels))
        self.ready = True
        return [m for v, m in old.versions.items() if versions.get(v) is not m]

    def resolve(self, version: str | int | None = None, label: str | None = None) -> OnnxModel:
        snapshot = self._snapshot  # one read: the answer comes from one consistent set
        if label is not None:
            if label not in snapshot.labels:
                raise ModelLabelNotFound(self.name, label, sorted(snapshot.versions), snapshot.labels)
            return snapshot.versions[snapshot.labels[label]]
        if version is None or version == "":
            return snapshot.latest
        text = str(version)
        if text.isdigit() and text.isascii():
            model = snapshot.versions.get(int(text))
            if model is None:
                raise ModelVersionNotFound(self.name, text, sorted(snapshot.versions), snapshot.labels)
            return model
        if text in snapshot.labels:  # KServe v2 has one version field: a label may stand in it
            return snapshot.versions[snapshot.labels[text]]
        raise ModelVersionNotFound(self.name, text, sorted(snapshot.versions), snapshot.labels)

    async def predict(self, payload: InferRequest, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> InferResponse:
        return await self.resolve(payload.model_version).predict(payload, headers, response_headers)

    def get_input_types(self) -> list[dict]:
        return self._snapshot.latest.get_input_types()

    def get_output_types(self) -> list[dict]:
        return self._snapshot.latest.get_output_types()

    def load(self) -> bool:
        return self.ready

    def stop(self) -> None:
        for model in self._snapshot.versions.values():
            model.stop()
        super().stop()
