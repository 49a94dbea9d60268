"""`rosetta serve`: its flags, its loopback default, and a clean exit on SIGTERM."""
import subprocess
import sys

import psutil

from benchmarks.serving.process import ServerProcess


def _rosetta(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rosetta.cli", *args], capture_output=True, text=True, timeout=60)


def test_serve_help_lists_the_serving_flags():
    out = _rosetta("serve", "--help").stdout
    for flag in ("--http-port", "--grpc-port", "--host", "--artifacts", "--max-batch-size", "--max-delay-ms",
                 "--no-batching", "--max-request-rows", "--max-body-bytes"):
        assert flag in out
    assert "127.0.0.1" in out


def test_bad_flags_are_usage_errors():
    proc = _rosetta("serve", "--http-port", "70000")
    assert proc.returncode == 2 and "must be a TCP port" in proc.stderr
    proc = _rosetta("serve", "--max-delay-ms", "-1")
    assert proc.returncode == 2 and "must be >= 0" in proc.stderr


def test_missing_manifest_is_exit_2_with_the_path(tmp_path):
    proc = _rosetta("serve", "--artifacts", str(tmp_path))
    assert proc.returncode == 2 and f"{tmp_path}/manifest.json: missing" in proc.stderr


def test_rosetta_serve_binds_loopback_and_exits_0_on_sigterm(tiny_artifacts, tmp_path):
    server = ServerProcess(tiny_artifacts, entry=("-m", "rosetta.cli", "serve"), log_path=tmp_path / "log")
    with server:
        root = psutil.Process(server.pid)  # the supervisor's workers hold the sockets (--workers, default: cores)
        listening = {c.laddr for p in (root, *root.children(recursive=True)) for c in p.connections("inet")
                     if c.status == "LISTEN"}
        assert {(ip.removeprefix("::ffff:"), port) for ip, port in listening} == {
            ("127.0.0.1", server.http_port), ("127.0.0.1", server.grpc_port)}
    assert server.proc.returncode == 0, server.log_tail()
