"""Server settings and the command-line flags that set them (shared by `rosetta serve` and `python -m rosetta.serving`)."""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path

from rosetta.core.arg_types import non_negative_float, positive_int

DEFAULT_ARTIFACTS = Path(os.environ.get("ROSETTA_ARTIFACTS", "artifacts"))
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (a container's CPU
    limit, which affinity does not show: a pod limited to 1 CPU on a 32-core node sees 32)."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))


@dataclass(frozen=True)
class ServeConfig:
    artifacts: Path = DEFAULT_ARTIFACTS
    repository: Path | None = None  # where the versioned model repository is built; None = a temp dir
    site: Path | None = None  # download site for /artifacts/; None = <artifacts>/site when it is built
    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 8081
    # Dynamic batching: concurrent requests of one model are merged into one ORT run of at most
    # max_batch_size rows, waiting at most max_delay_ms for more once the first one arrived. Default 0:
    # batch only what queued up meanwhile. Measured with benchmarks/serving/bench.py, a 1-3 ms wait raised the
    # single-client p50 from 1 ms to 3-5 ms and bought no throughput: per-request protocol work, not the
    # ~60 us ORT run, is what limits this server.
    batching: bool = True
    max_batch_size: int = 256
    max_delay_ms: float = 0.0
    max_request_rows: int = 1024  # rows in one request; more is a 400
    max_body_bytes: int = 32 << 20  # REST body and gRPC message limit; more is 413 / RESOURCE_EXHAUSTED
    intra_op_threads: int = 1
    # Hot reload: re-read <artifacts>/manifest.json this often (TF Serving's --file_system_poll_wait_seconds
    # defaults to 1 s); 0 serves what was loaded at start. A poll that finds nothing new costs one small read.
    poll_seconds: float = 2.0
    log_level: str = "WARNING"
    # A model none of whose versions loads (corrupt file, spec mismatch): by default the others are served
    # and readiness names it and why; strict, the server refuses to start (and is not ready while one is out).
    strict_models: bool = False
    # Server processes sharing the ports (serving/server/workers.py): one per core this process may use.
    workers: int = available_cores()
    reuse_port: bool = False  # set by the supervisor for its workers, not a flag


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a TCP port (1-65535), got {text}")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    d = ServeConfig()
    parser.add_argument("--artifacts", type=Path, default=d.artifacts,
                        help="artifacts directory holding manifest.json (default: %(default)s)")
    parser.add_argument("--repository", type=Path, default=None,
                        help="where to build the <model>/<version>/model.onnx repository (default: a temp dir)")
    parser.add_argument("--site", type=Path, default=None,
                        help="built download site to serve at /artifacts/ (default: <artifacts>/site if built)")
    parser.add_argument("--host", default=d.host, help="address to bind (default: %(default)s, loopback only)")
    parser.add_argument("--http-port", type=_port, default=d.http_port, help="REST port (default: %(default)s)")
    parser.add_argument("--grpc-port", type=_port, default=d.grpc_port, help="gRPC port (default: %(default)s)")
    parser.add_argument("--no-batching", dest="batching", action="store_false",
                        help="one ORT run per request instead of dynamic batching")
    parser.add_argument("--max-batch-size", type=positive_int, default=d.max_batch_size,
                        help="most rows merged into one ORT run (default: %(default)s)")
    parser.add_argument("--max-delay-ms", type=non_negative_float, default=d.max_delay_ms,
                        help="longest wait for more requests to join a batch (default: %(default)s)")
    parser.add_argument("--max-request-rows", type=positive_int, default=d.max_request_rows,
                        help="most images in one request (default: %(default)s)")
    parser.add_argument("--max-body-bytes", type=positive_int, default=d.max_body_bytes,
                        help="largest REST body / gRPC message (default: %(default)s)")
    parser.add_argument("--intra-op-threads", type=positive_int, default=d.intra_op_threads,
                        help="ONNX Runtime intra-op threads per model (default: %(default)s)")
    parser.add_argument("--poll-seconds", type=non_negative_float, default=d.poll_seconds,
                        help="re-read the manifest this often to load new versions and retire old ones; "
                             "0 disables hot reload (default: %(default)s)")
    parser.add_argument("--workers", type=positive_int, default=d.workers,
                        help="server processes sharing the ports, each loading every model "
                             "(default: %(default)s, the cores available, capped by a container CPU limit)")
    parser.add_argument("--strict-models", action="store_true",
                        help="exit 2 at start if any model of the manifest cannot be loaded, and report not ready "
                             "while one is unavailable (default: serve every model that loads; /v2/health/ready "
                             "names the others and why)")
    parser.add_argument("--log-level", default=d.log_level,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="(default: %(default)s)")


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    return ServeConfig(**{name: getattr(args, name) for name in ServeConfig.__dataclass_fields__
                          if hasattr(args, name)})
