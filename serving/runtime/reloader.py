"""Hot reload: poll the manifest like TF Serving's --file_system_poll_wait_seconds and bring the model table
in step with it (new versions loaded and warmed up before they are visible, versions leaving the served set
retired after their in-flight requests). Any failure is logged and leaves the served models as they were."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from rosetta.core.manifest import ManifestError, served
from rosetta.serving.runtime.model import FORMAT
from rosetta.serving.runtime.model_table import ModelTable
from rosetta.serving.server.metrics import LAST_RELOAD, MANIFEST_POLLS

log = logging.getLogger(__name__)


class Reloader:
    def __init__(self, table: ModelTable, artifacts: Path, period_s: float, fmt: str = FORMAT) -> None:
        self.table = table
        self.format = fmt  # the manifest format served (ServeConfig.onnx_variant)
        self.artifacts = Path(artifacts)
        self.period_s = period_s
        self._last_error: str | None = None

    async def run(self) -> None:
        """Forever, one poll per period (cancel the task to stop)."""
        while True:
            await asyncio.sleep(self.period_s)
            try:
                await self.poll()
            except Exception:  # the poller outlives any bug in one poll; the served set stays as it was
                MANIFEST_POLLS.labels("error").inc()
                log.exception("hot reload: poll failed; still serving the loaded versions")

    async def poll(self) -> bool:
        """One poll; True if the served set changed."""
        try:
            served_set = await asyncio.to_thread(served, self.artifacts, self.format)
        except ManifestError as exc:
            MANIFEST_POLLS.labels("error").inc()
            if str(exc) != self._last_error:  # once per distinct problem, not every period
                log.error("hot reload: %s; still serving the loaded versions", exc)
                self._last_error = str(exc)
            return False
        self._last_error = None
        pending = self.table.pending(served_set)
        loaded = (await asyncio.to_thread(self.table.load, pending))[0] if pending else {}
        changed, retired = self.table.apply(served_set, loaded)
        self.table.retire(retired)
        MANIFEST_POLLS.labels("applied" if changed else "unchanged").inc()
        if changed:
            LAST_RELOAD.set_to_current_time()
        return changed
