"""What every command shares: the console, the errors that end a command, lanes in child processes, the cell
log and the export summary."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rosetta import contract
from rosetta.core.manifest import Entry

ARTIFACTS_DIR = Path("artifacts")
# Logs and CI are not terminals; rich would wrap the tables at 80 columns there.
console = Console(width=None if sys.stdout.isatty() else 200)  # a log file: rows on one line


class UsageError(Exception):
    """A valid-looking command the pipeline cannot run (e.g. a format a lane does not export): exit 2."""


class TrainingError(Exception):
    """A training run failed; its own output says why: exit 1."""


def lanes(choice: str) -> list[str]:
    return list(contract.LANES) if choice == "all" else [choice]


def builtin_models(choice: str) -> list[str]:
    return list(contract.BUILTIN_MODELS) if choice == "all" else [choice]


def optional_flags(flags: dict[str, object]) -> list[str]:
    return [part for flag, value in flags.items() if value is not None for part in (flag, str(value))]


def in_child(args: argparse.Namespace, name: str, command: list[str]) -> int:
    """Run `command` for lane `name` in a child `rosetta` process whose Keras runs the lane's backend: Keras reads
    KERAS_BACKEND once per process, and this one's Keras already runs another backend."""
    return start_child(args, name, command).wait()


def start_child(args: argparse.Namespace, name: str, command: list[str]) -> subprocess.Popen:
    """Start `command` for lane `name` in a child `rosetta` process (a Keras lane's with its backend)."""
    import os

    from rosetta.keras_backends import child_env
    from rosetta.models import keras_backend

    backend = keras_backend(name)
    console.print(f"[bold]{name}[/]: in a child process" + (f" with KERAS_BACKEND={backend}" if backend else ""))
    out = getattr(args, "artifacts", None) or args.out
    argv = [sys.executable, "-m", "rosetta.cli", "--data-dir", str(args.data_dir), "--out", str(out),
            *command, "--lane", name]
    return subprocess.Popen(argv, env=child_env(backend) if backend else dict(os.environ))


def run_children(args: argparse.Namespace, commands: list[tuple[str, list[str]]], jobs: int,
                 ok_codes: tuple[int, ...] = (0,)) -> list[str]:
    """Run each (lane, command) in a child (start_child), `jobs` at a time, in order; the lanes whose child
    failed (an exit code not in `ok_codes`), with their exit codes."""
    import time

    pending, running, failed = list(commands), [], []
    while pending or running:
        while pending and len(running) < jobs:
            name, command = pending.pop(0)
            running.append((name, start_child(args, name, command)))
        for name, child in list(running):
            if child.poll() is not None:
                running.remove((name, child))
                if child.returncode not in ok_codes:
                    failed.append(f"{name} (exit {child.returncode})")
        time.sleep(0.1)
    return failed


def log_cell(entry: Entry) -> None:
    """One line per exported cell as it finishes."""
    color = "green" if entry.ok else "red"
    p = entry.parity
    detail = (f"max|diff| {p.max_abs_diff:.2e}  " + (f"acc {p.accuracy:.4f}  " if p.accuracy is not None else "")
              + f"export {entry.export_seconds or 0:.1f}s  validate {entry.validate_seconds or 0:.1f}s  "
              + "; ".join(p.failures) if p else entry.error or "")
    console.print(f"  [{color}]{entry.status:>11}[/] {entry.model_name:>16} {entry.format:<12} {detail}",
                  highlight=False)


def print_summary(entries: list[Entry]) -> list[Entry]:
    """Print the matrix and, if any cell failed, a table of the failures; return the failed entries."""
    from rosetta.exporters import report  # its rows are the report's; imported on use, as every command's work

    # one line a cell, in a log file too: the paths are in report.md and the manifest
    table = Table(title=f"export matrix ({len(entries)} cells; paths in report.md)")
    for column in report.COLUMNS[:-1]:
        table.add_column(column, no_wrap=True)
    for e in entries:
        row = report.row(e)[:-1]
        row[4] = f"[{'green' if e.ok else 'red'}]{row[4]}[/]"
        table.add_row(*row)
    console.print(table)
    for e in entries:
        if e.status == "skipped":
            console.print(f"skipped {e.model_name} {e.format}: {e.error}")
    failed = [e for e in entries if not e.ok and e.status != "skipped"]
    if failed:
        bad = Table(title=f"[red]{len(failed)} cell(s) failed[/]")
        for column in ("model", "format", "status", "why"):
            bad.add_column(column, overflow="fold")
        for e in failed:
            bad.add_row(e.model_name, e.format, e.status, e.why())
        console.print(bad)
    return failed
