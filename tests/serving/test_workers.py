"""--workers N: N server processes on the same ports under a supervisor (serving/server/workers.py)."""
import argparse
import os
import signal
import socket
import time

import psutil
import pytest

from benchmarks.serving.process import ServerProcess
from rosetta.serving.server.config import ServeConfig, add_serve_arguments, available_cores, config_from_args


def _parse(*argv: str) -> ServeConfig:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_workers_default_to_the_cores_available_and_must_be_positive():
    assert _parse().workers == available_cores()
    assert _parse("--workers", "3").workers == 3
    assert _parse().reuse_port is False  # only the supervisor sets it, for its workers
    with pytest.raises(SystemExit):
        _parse("--workers", "0")


def test_cores_available_honour_a_container_cpu_limit(tmp_path):
    cores = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    assert available_cores(tmp_path / "missing") == cores
    for text, expected in (("max 100000", cores), ("50000 100000", 1), ("150000 100000", min(cores, 2)),
                           ("10000000 100000", cores), ("garbage", cores)):
        cpu_max.write_text(text + "\n")
        assert available_cores(cpu_max) == expected, text


def _workers(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children() if "spawn_main" in " ".join(p.cmdline())]


def _established_to(proc: psutil.Process, port: int) -> int:
    return sum(1 for c in proc.connections("tcp") if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)


@pytest.fixture(scope="module")
def two_workers(tiny_artifacts, tmp_path_factory):
    with ServerProcess(tiny_artifacts, extra_args=["--workers", "2"],
                       log_path=tmp_path_factory.mktemp("logs") / "workers.log") as server:
        yield server


def test_connections_are_spread_over_the_workers(two_workers):
    workers = _workers(two_workers.pid)
    assert len(workers) == 2
    deadline = time.monotonic() + 60
    while not all(_ready_listening(w, two_workers.http_port) for w in workers):  # the second may still load
        assert time.monotonic() < deadline, "a worker never listened"
        time.sleep(0.5)
    sockets = []
    try:
        for _ in range(24):  # all on one worker by chance: 2**-23
            s = socket.create_connection(("127.0.0.1", two_workers.http_port))
            sockets.append(s)
        time.sleep(0.5)
        counts = [_established_to(w, two_workers.http_port) for w in workers]
    finally:
        for s in sockets:
            s.close()
    assert sum(counts) == 24 and min(counts) > 0, counts


def _ready_listening(proc: psutil.Process, port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in proc.connections("tcp"))


def test_a_worker_dying_stops_the_set_with_its_exit_code(tiny_artifacts, tmp_path):
    server = ServerProcess(tiny_artifacts, extra_args=["--workers", "2"], log_path=tmp_path / "server.log").start()
    try:
        workers = _workers(server.pid)
        assert len(workers) == 2
        workers[0].send_signal(signal.SIGKILL)
        code = server.proc.wait(60)
        assert code == 128 + signal.SIGKILL, code  # the dead worker's fate, as a shell reports it, not 0
        assert not workers[1].is_running() or workers[1].status() == psutil.STATUS_ZOMBIE
        assert "exited with" in server.log_tail()
    finally:
        server.stop()


def test_sigterm_stops_every_worker(tiny_artifacts, tmp_path):
    server = ServerProcess(tiny_artifacts, extra_args=["--workers", "2"], log_path=tmp_path / "server.log").start()
    workers = _workers(server.pid)
    assert server.stop() == 0
    psutil.wait_procs(workers, timeout=10)
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
