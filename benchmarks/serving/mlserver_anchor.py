"""MLServer 1.7.1 (Seldon) serving the same ONNX file through a custom ONNX Runtime runtime, started beside our
server so the benchmark compares both in the same run. MLServer lives in its own virtualenv (.venv-mlserver,
created here on first use from mlserver-requirements.lock), never in the project's."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from benchmarks.serving.process import ROOT, free_port

REQUIREMENTS = Path(__file__).with_name("mlserver-requirements.lock")
RUNTIME = Path(__file__).with_name("mlserver_onnx_runtime.py")
VENV = ROOT / ".venv-mlserver"


def ensure_venv(venv: Path = VENV) -> Path:
    """The MLServer virtualenv, (re)installed when its requirements changed; returns its `mlserver` command."""
    stamp = venv / ".installed"
    wanted = REQUIREMENTS.read_text()
    if not (stamp.is_file() and stamp.read_text() == wanted):
        print(f"bench: installing MLServer into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--require-hashes", "-r", str(REQUIREMENTS)],
                       check=True)
        stamp.write_text(wanted)
    return venv / "bin" / "mlserver"


class MLServerProcess:
    """`with MLServerProcess(model_name, onnx_file, workdir) as srv:` -> srv.http_url serving /v2/models/<name>."""

    def __init__(self, model_name: str, onnx_file: Path, workdir: Path, ready_timeout: float = 180.0) -> None:
        self.model_name = model_name
        self.onnx_file = Path(onnx_file).resolve()
        self.workdir = Path(workdir)
        self.http_port, self.grpc_port, self.metrics_port = free_port(), free_port(), free_port()
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _write_settings(self) -> Path:
        model_dir = self.workdir / "models" / self.model_name
        model_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(RUNTIME, model_dir / RUNTIME.name)
        # MLServer's defaults otherwise (one inference worker process, as a user would run it).
        (self.workdir / "models" / "settings.json").write_text(json.dumps({
            "host": "127.0.0.1", "http_port": self.http_port, "grpc_port": self.grpc_port,
            "metrics_port": self.metrics_port, "debug": False}))
        (model_dir / "model-settings.json").write_text(json.dumps({
            "name": self.model_name, "implementation": f"{RUNTIME.stem}.OnnxRuntimeModel",
            "parameters": {"uri": str(self.onnx_file)}}))
        return self.workdir / "models"

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/v2/models/{self.model_name}/ready", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> MLServerProcess:
        command = ensure_venv()
        models = self._write_settings()
        log = open(self.workdir / "mlserver.log", "wb")  # noqa: SIM115 (Popen keeps its own copy)
        self.proc = subprocess.Popen([str(command), "start", str(models)], cwd=models, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"MLServer exited with {self.proc.returncode}; see {self.workdir / 'mlserver.log'}")
            if self._ready():
                return self
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"MLServer not ready after {self.ready_timeout}s; see {self.workdir / 'mlserver.log'}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # MLServer stops its inference workers itself
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> MLServerProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
