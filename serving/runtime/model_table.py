"""The model table: every model's VersionedModel in kserve's registry, kept in step with the manifest's
served set. Used once at start-up and then by the hot-reload poller (serving/runtime/reloader.py).

A change is made in three steps so that readiness never drops and no request fails:
1. `load` (blocking, off the event loop): each new version is copied into the repository, SHA-256 checked,
   loaded into ONNX Runtime, checked against its spec and warmed up. A version that fails is logged, counted
   and remembered (not retried until its manifest record or its file changes); the others go on.
2. `apply` (on the event loop, no await): each model's versions and labels are swapped in one assignment.
3. `retire`: a version swapped out is closed (batcher, session, repository copy) once its in-flight
   requests are done.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from kserve.model_repository import ModelRepository

from rosetta.core.manifest import ServedSet, ServedVersion
from rosetta.serving.runtime.model import OnnxModel
from rosetta.serving.runtime.repository import IntegrityError, remove_version, stage_version
from rosetta.serving.runtime.versions import VersionedModel
from rosetta.serving.server.config import ServeConfig
from rosetta.serving.server.metrics import VERSION_EVENTS, VERSIONS_LOADED

log = logging.getLogger(__name__)

Key = tuple[str, int]
# A request resolves its version and then may still await its body before it enters the batcher (TF Serving
# REST reads the body first, but a slow upload elsewhere may not); the version stays usable this long.
LATE_ARRIVAL_S = 1.0
DRAIN_TIMEOUT_S = 30.0  # longest wait for in-flight requests of a retired version; they take milliseconds


def _fingerprint(model: ServedVersion) -> tuple:
    """What must change before a version that failed to load is tried again."""
    try:
        st = os.stat(model.source)
        return model.sha256, st.st_mtime_ns, st.st_size, st.st_ino
    except OSError:
        return model.sha256, None


class ModelTable:
    def __init__(self, registry: ModelRepository, config: ServeConfig, repository: Path,
                 on_new_model: Callable[[str], None] = lambda name: None) -> None:
        self.registry = registry
        self.config = config
        self.repository = Path(repository)
        self.on_new_model = on_new_model
        self._failed: dict[Key, tuple] = {}
        self.refused: dict[Key, str] = {}  # versions the served set names that did not load, and why
        self._served_names: list[str] = []
        self._draining: set[asyncio.Task] = set()

    def models(self) -> dict[str, VersionedModel]:
        return {n: m for n, m in self.registry.get_models().items() if isinstance(m, VersionedModel)}

    def loaded(self) -> dict[Key, OnnxModel]:
        return {(name, v): model for name, front in self.models().items() for v, model in front.loaded().items()}

    def pending(self, served: ServedSet) -> list[ServedVersion]:
        """Served versions not loaded yet, except those that failed with the very same record and file."""
        loaded = self.loaded()
        return [m for m in served.versions if m.key not in loaded and self._failed.get(m.key) != _fingerprint(m)]

    def load(self, models: list[ServedVersion]) -> tuple[dict[Key, OnnxModel], dict[Key, str]]:
        """Blocking: (loaded and warmed-up versions, error message of each version that failed)."""
        loaded, errors = {}, {}
        for m in models:
            try:
                model = OnnxModel(m, stage_version(m, self.repository), self.config)
                model.load()
            except (IntegrityError, OSError) as exc:
                errors[m.key] = self.refused[m.key] = str(exc)
                self._failed[m.key] = _fingerprint(m)
                VERSION_EVENTS.labels(m.name, "failed").inc()
                log.error("not serving %s v%d: %s", m.name, m.version, exc)
                remove_version(self.repository, m.name, m.version)
                continue
            self._failed.pop(m.key, None)
            self.refused.pop(m.key, None)
            loaded[m.key] = model
            VERSION_EVENTS.labels(m.name, "loaded").inc()
            log.info("loaded %s v%d", m.name, m.version)
        return loaded, errors

    def apply(self, served: ServedSet, loaded: dict[Key, OnnxModel]) -> tuple[bool, list[OnnxModel]]:
        """Serve the served set (as far as it loaded): (whether anything changed, the versions swapped out).
        A model keeps its current versions when none of its served set is loaded (a manifest that serves
        nothing of it, or only versions that failed): a model is never left with no version."""
        fronts = self.models()
        changed, retired = False, []
        self._served_names = list(served.names)
        wanted_keys = {m.key for m in served.versions}
        self.refused = {k: why for k, why in self.refused.items() if k in wanted_keys}
        for name in sorted(set(fronts) | set(served.names)):
            front = fronts.get(name)
            have = front.loaded() if front else {}
            wanted = {m.version for m in served.versions if m.name == name}
            versions = {v: model for v, model in have.items() if v in wanted}
            versions.update({v: model for (n, v), model in loaded.items() if n == name})
            if not versions:
                if front is not None:
                    log.error("%s: the manifest serves none of the loaded versions %s; keeping them", name,
                              front.versions)
                continue
            labels = {label: v for label, v in served.labels.get(name, {}).items() if v in versions}
            if front is None:
                self.registry.update(VersionedModel(name, versions, labels))
                self.on_new_model(name)
            elif versions != have or labels != front.labels:
                retired += front.swap(versions, labels)
            else:
                continue
            changed = True
            VERSIONS_LOADED.labels(name).set(len(versions))
            log.info("%s: serving versions %s, labels %s", name, sorted(versions), labels)
        return changed, retired

    def unavailable(self) -> dict[str, str]:
        """Models the manifest serves that have no loaded version, each with why (its refused versions)."""
        fronts = self.models()
        out = {}
        for name in self._served_names:
            if name not in fronts or not fronts[name].loaded():
                reasons = [why for (n, _), why in sorted(self.refused.items()) if n == name]
                out[name] = "; ".join(reasons) or "not loaded yet"
        return out

    def degraded(self) -> dict[str, str]:
        """Served models still answering from older versions because a newer one was refused: version -> why."""
        fronts = self.models()
        return {f"{n} v{v}": why for (n, v), why in sorted(self.refused.items()) if n in fronts and fronts[n].loaded()}

    def retire(self, models: list[OnnxModel]) -> None:
        """On the event loop: close each version once its in-flight requests are done, in the background."""
        for model in models:
            name = f"retire-{model.name}-{model.version}"
            task = asyncio.get_running_loop().create_task(self._drain(model), name=name)
            self._draining.add(task)
            task.add_done_callback(self._draining.discard)

    async def _drain(self, model: OnnxModel) -> None:
        await asyncio.sleep(LATE_ARRIVAL_S)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while model.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if model.in_flight:
            log.warning("%s v%d: closing with %d requests still in flight after %.0f s", model.name, model.version,
                        model.in_flight, DRAIN_TIMEOUT_S)
        model.stop()
        if (model.name, model.version) not in self.loaded():  # not published again meanwhile
            remove_version(self.repository, model.name, model.version)
        VERSION_EVENTS.labels(model.name, "retired").inc()
        log.info("retired %s v%d", model.name, model.version)

    async def drained(self) -> None:
        """Wait for every retirement under way (tests, shutdown)."""
        while self._draining:
            await asyncio.gather(*list(self._draining), return_exceptions=True)
