"""Run the ORT server as a child process on free loopback ports (tests and the benchmark)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]


class ToolMissing(RuntimeError):
    """A load generator from Debian is not installed (`make bench-serve` installs it)."""


def debian_tool(command: str, package: str) -> str:
    """The path of `command`, which `make bench-serve` installs from the Debian package `package`."""
    found = shutil.which(command)
    if found is None:
        raise ToolMissing(f"{command} not found: `make bench-serve` installs it (apt-get install {package})")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _ready(http_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{http_url}/v2/health/ready", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


class ExternalServer:
    """A server someone else runs (the compose service): same interface, nothing to start or stop."""

    def __init__(self, http_url: str, grpc_target: str) -> None:
        self.http_url = http_url.rstrip("/")
        self.grpc_target = grpc_target

    def is_ready(self) -> bool:
        return _ready(self.http_url)

    def alive(self) -> bool:
        return self.is_ready()


class ServerProcess:
    """`with ServerProcess(artifacts) as srv:` -> a ready server at srv.http_url / srv.grpc_target."""

    def __init__(self, artifacts: Path, *, repository: Path | None = None, extra_args: list[str] | None = None,
                 log_path: Path | None = None, ready_timeout: float = 90.0,
                 entry: tuple[str, ...] = ("-m", "rosetta.serving"), command: list[str] | None = None,
                 cwd: Path = ROOT) -> None:
        """`command` replaces `python -m <entry>` (e.g. an installed `rosetta serve`); it then runs in `cwd` with
        the environment as it is (no checkout on PYTHONPATH)."""
        self.host = "127.0.0.1"
        self.http_port, self.grpc_port = free_port(), free_port()
        self.command, self.cwd = command, cwd
        self.args = [*(command or [sys.executable, *entry]), "--artifacts", str(artifacts), "--host", self.host,
                     "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port),
                     *(["--repository", str(repository)] if repository else []), *(extra_args or [])]
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path and self.log_path.is_file():
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def is_ready(self) -> bool:
        return _ready(self.http_url)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> ServerProcess:
        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 (closed by Popen's dup)
        env = dict(os.environ) if self.command else {
            **os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd, env=env)
        if out is not subprocess.DEVNULL:
            out.close()
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} before ready:\n{self.log_tail()}")
            if self.is_ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"server not ready after {self.ready_timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
