"""The ONNX Runtime model server: every served version of every onnx artifact of the manifest, over KServe v2
REST + gRPC and the TF Serving REST API, hot-reloaded from the manifest. Start with `rosetta serve` or
`python -m rosetta.serving`.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

import uvloop
from kserve import ModelServer
from kserve.model_repository import ModelRepository

from rosetta.core.manifest import ManifestError, served
from rosetta.serving.runtime.model import FORMAT
from rosetta.serving.runtime.model_table import ModelTable
from rosetta.serving.runtime.reloader import Reloader
from rosetta.serving.runtime.repository import IntegrityError, clean_repository
from rosetta.serving.server.artifact_site import INDEX_JSON, SiteNotBuilt
from rosetta.serving.server.config import ServeConfig
from rosetta.serving.server.dataplane import ServingDataPlane
from rosetta.serving.server.grpc_server import ServingGRPCServer
from rosetta.serving.server.metrics import ModelLabels
from rosetta.serving.server.rest_server import ServingRESTServer
from rosetta.serving.server.workers import READY_FILE_ENV, run_workers

log = logging.getLogger("rosetta.serving")
GRACE_PERIOD_S = 5  # in-flight requests of this model take milliseconds; k8s allows 30 s in total


class ServingModelServer(ModelServer):
    """kserve's ModelServer with our REST/gRPC servers; one process, one event loop."""

    def __init__(self, config: ServeConfig, table: ModelTable) -> None:
        super().__init__(http_port=config.http_port, grpc_port=config.grpc_port, enable_grpc=True,
                         enable_latency_logging=False, grace_period=GRACE_PERIOD_S,
                         registered_models=table.registry)
        self.serve_config = config
        self.table = table
        expected = sorted(table.models())
        self.dataplane = ServingDataPlane(self.registered_models, expected, table.unavailable, config.strict_models,
                                          table.degraded)
        self.labels = ModelLabels(expected)
        table.on_new_model = self.labels.add  # bounded: only names the manifest serves
        configure_logging(config.log_level)

    def start(self) -> None:
        self._register_and_check_atleast_one_model_is_ready(list(self.table.models().values()))
        self._rest_server = ServingRESTServer(self.dataplane, self.model_repository_extension, self.serve_config,
                                              self.labels, self.grace_period)
        self._grpc_server = ServingGRPCServer(self.dataplane, self.model_repository_extension, self.serve_config,
                                              self.labels, self.grace_period)
        # uvicorn owns SIGTERM/SIGINT while it serves (it drains REST, then re-raises the signal to the
        # previous handler); ours only has to survive that re-raise, _serve then stops gRPC.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        # Garbage collector, measured under load with benchmarks/serving/bench.py: kserve, FastAPI, pydantic and
        # friends leave ~125k long-lived objects, and each full collection scanning them took ~85 ms, which
        # was the p99; frozen, they are never scanned again. A JSON request allocates thousands of lists, so
        # the default gen-0 threshold (700) ran a collection several times per request: 10,000 cut the
        # collector's time under load about 4x.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        uvloop.run(self._serve())  # measurably cheaper per request than asyncio's loop; grpc.aio works on it

    async def _serve(self) -> None:
        """Both servers until one stops (a signal, or a failure such as a port in use), then the other."""
        rest = asyncio.create_task(self._rest_server.start(), name="rest")
        grpc = asyncio.create_task(self._grpc_server.start(self.max_threads), name="grpc")
        period = self.serve_config.poll_seconds
        reload = asyncio.create_task(Reloader(self.table, self.serve_config.artifacts, period).run(),
                                     name="reload") if period > 0 else None
        announce = asyncio.create_task(self._announce_ready(), name="announce")
        await asyncio.wait([rest, grpc], return_when=asyncio.FIRST_COMPLETED)
        announce.cancel()
        if reload is not None:
            reload.cancel()
        self._rest_server._server.should_exit = True  # kserve's RESTServer keeps its uvicorn.Server there
        await self._grpc_server.stop()
        for task, result in zip((rest, grpc), await asyncio.gather(rest, grpc, return_exceptions=True), strict=True):
            if isinstance(result, BaseException):
                raise RuntimeError(f"{task.get_name()} server failed: {result!r}") from result
        for model in self.registered_models.get_models().values():
            model.stop()


    async def _announce_ready(self) -> None:
        """Tell a supervisor waiting on this worker (a rolling restart) that it accepts requests: the file named
        by READY_FILE_ENV appears once the REST server listens."""
        path = os.environ.get(READY_FILE_ENV)
        if not path:
            return
        while not self._rest_server._server.started:
            await asyncio.sleep(0.05)
        Path(path).touch()


def configure_logging(level: str) -> None:
    """After kserve's own set-up (ModelServer.__init__ installs its dictConfig), so ours wins."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in ("kserve", "kserve.trace", "uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(level)
    access = logging.getLogger("uvicorn.access")  # uvicorn logs access when this logger has any handler
    access.handlers.clear()
    access.propagate = False


def load_table(config: ServeConfig, repository: Path) -> ModelTable:
    """Every served version, hash-checked, loaded and warmed up. A version that fails is skipped if its model
    has another that loads (as hot reload would). A model with no loadable version is an IntegrityError with
    --strict-models; by default it is logged and reported by readiness while the others are served. No model
    at all is an IntegrityError either way: there is nothing to serve."""
    served_set = served(config.artifacts, FORMAT)
    table = ModelTable(ModelRepository(), config, repository)
    loaded, _ = table.load(list(served_set.versions))
    table.apply(served_set, loaded)
    unavailable = table.unavailable()
    if unavailable and (config.strict_models or not table.models()):
        raise IntegrityError("; ".join(unavailable.values()))
    for name, why in sorted(unavailable.items()):
        log.error("serving the other models without %s: %s", name, why)
    return table


def serve(config: ServeConfig) -> int:
    """Build the model repository, load every served version (hash-checked), then serve until SIGTERM/SIGINT,
    polling the manifest for new and retired versions; with several workers, each does that on the shared ports
    under a supervisor."""
    if config.workers > 1:
        return run_workers(config, serve)
    configure_logging(config.log_level)  # again once the server exists; this covers loading errors
    owned_repository = config.repository is None
    repository = Path(tempfile.mkdtemp(prefix="rosetta-models-")) if owned_repository else config.repository
    try:
        if config.site and not (config.site / INDEX_JSON).is_file():
            raise SiteNotBuilt(f"{config.site}: no {INDEX_JSON}; build it with `python -m rosetta.web.site`")
        table = load_table(config, repository)
    except (ManifestError, IntegrityError, SiteNotBuilt) as exc:
        print(f"rosetta serve: error: {exc}", file=sys.stderr)
        if owned_repository:
            clean_repository(repository)
        return 2
    names = ", ".join(f"{name} v{','.join(map(str, m.versions))}" for name, m in sorted(table.models().items()))
    print(f"rosetta serve: {names} from {repository}; REST http://{config.host}:{config.http_port} "
          f"gRPC {config.host}:{config.grpc_port}; manifest polled every {config.poll_seconds:g} s", file=sys.stderr)
    for name, why in sorted(table.unavailable().items()):
        print(f"rosetta serve: not serving {name}: {why}", file=sys.stderr)
    try:
        ServingModelServer(config, table).start()
    finally:
        if owned_repository:
            clean_repository(repository)
    return 0
