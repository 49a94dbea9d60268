"""The ORT server image without Docker: its files laid out as serving/onnx/Dockerfile's COPY lines and its
.dockerignore put them, and its ENTRYPOINT run there by a clean virtualenv holding exactly the image's
requirements (`make onnx-image-venv`). Read from the Dockerfile, so a change there changes what is tested."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from benchmarks.serving.process import ROOT, ServerProcess, free_port

DOCKERFILE = ROOT / "serving" / "onnx" / "Dockerfile"
REQUIREMENTS = ROOT / "serving" / "onnx" / "requirements.txt"
VENV = ROOT / ".venv-onnx-image"
# The container's HOME/TMPDIR land here (the image's ENV), the image's only writable place.
CONTAINER_TMP = "/tmp"


def venv_stamp(requirements: Path = REQUIREMENTS, venv: Path = VENV) -> Path:
    """The stamp serving/onnx/image.mk touches once the venv holds this exact requirements file."""
    return venv / f".installed-{hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]}"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: continuations joined, comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical, pending = (pending + line).strip(), ""
        keyword, _, args = logical.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


@dataclass(frozen=True)
class Dockerfile:
    workdir: str
    env: dict[str, str]
    copies: list[tuple[list[str], str]]  # (context sources, destination)
    entrypoint: list[str]

    @classmethod
    def parse(cls, path: Path = DOCKERFILE) -> Dockerfile:
        workdir, env, copies, entrypoint = "/", {}, [], None
        for keyword, args in _instructions(path.read_text()):
            if keyword == "WORKDIR":
                workdir = args
            elif keyword == "ENV":
                env.update(dict(pair.split("=", 1) for pair in args.split()))
            elif keyword == "COPY":
                if args.startswith("--"):
                    raise ValueError(f"{path}: COPY flags are not modelled: COPY {args}")
                *sources, dest = args.split()
                copies.append((sources, dest))
            elif keyword == "ENTRYPOINT":
                entrypoint = json.loads(args)  # exec form only: the shell form would need a shell in the image
        if not entrypoint:
            raise ValueError(f"{path}: no exec-form ENTRYPOINT")
        return cls(workdir, env, copies, entrypoint)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex over slash-separated context paths."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


class DockerIgnore:
    """Docker's rule: the last pattern matching a path or one of its parent directories decides; `!` keeps."""

    def __init__(self, text: str) -> None:
        self.rules = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip().strip("/")).replace(os.sep, "/")
            self.rules.append((keep, _pattern_regex(pattern)))

    def excluded(self, rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        excluded = False
        for keep, regex in self.rules:
            if any(regex.fullmatch(p) for p in prefixes):
                excluded = not keep
        return excluded


def _context_files(source: Path, rel: str) -> list[tuple[Path, str]]:
    """(file, its context-relative path) under one COPY source."""
    if source.is_file():
        return [(source, rel)]
    if not source.is_dir():
        raise FileNotFoundError(f"COPY source {rel} ({source}) does not exist")
    return [(path, f"{rel}/{path.relative_to(source).as_posix()}")
            for path in sorted(source.rglob("*")) if path.is_file()]


def lay_out(dest: Path, *, artifacts: Path, dockerfile: Path = DOCKERFILE, context: Path = ROOT) -> Path:
    """Copy what the image's WORKDIR holds into `dest` (standing for it); the context's `artifacts/` is
    `artifacts` (any export). Returns `dest`. Copies into /tmp (the requirements file) are build inputs the
    clean venv already stands for, so they are left out."""
    image = Dockerfile.parse(dockerfile)
    ignore = DockerIgnore((dockerfile.parent / f"{dockerfile.name}.dockerignore").read_text())
    root = image.workdir.rstrip("/")
    for sources, target in image.copies:
        if not (target + "/").startswith(root + "/"):
            continue
        for src in sources:
            rel = src.strip("/")
            head, _, tail = rel.partition("/")
            path = artifacts / tail if head == "artifacts" else context / rel
            for file, file_rel in _context_files(path, rel):
                if ignore.excluded(file_rel):
                    continue
                inside = file_rel[len(rel):].lstrip("/") if path.is_dir() else Path(file_rel).name
                out = dest / target[len(root):].strip("/") / inside
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, out)
    return dest


class ImageServer(ServerProcess):
    """The image's ENTRYPOINT in a laid-out image: the clean venv's python for the image's, the layout for its
    WORKDIR, free loopback ports for its published ones, a fresh `repository` for its /tmp, and an environment
    holding only the image's ENV (no PYTHONPATH back into the repository)."""

    def __init__(self, layout: Path, repository: Path, *, python: Path = VENV / "bin" / "python",
                 dockerfile: Path = DOCKERFILE, log_path: Path | None = None, ready_timeout: float = 120.0) -> None:
        super().__init__(layout, log_path=log_path, ready_timeout=ready_timeout)
        image = Dockerfile.parse(dockerfile)
        self.http_port, self.grpc_port = free_port(), free_port()
        command = [str(python) if image.entrypoint[0] == "python" else image.entrypoint[0]]
        replace = {"--host": self.host, "--http-port": str(self.http_port), "--grpc-port": str(self.grpc_port),
                   "--repository": str(repository)}
        args = image.entrypoint[1:]
        for i, arg in enumerate(args):
            if i and args[i - 1] in replace:
                arg = replace[args[i - 1]]
            elif arg == image.workdir or arg.startswith(image.workdir.rstrip("/") + "/"):
                arg = str(layout) + arg[len(image.workdir.rstrip("/")):]
            command.append(arg)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **image.env}
        # env(1) sets the container's working directory and environment; ServerProcess.start's own cwd and
        # PYTHONPATH (the repository) are thereby dropped, so only the layout's files can be imported.
        self.args = ["env", "-i", "-C", str(layout), *(f"{k}={v}" for k, v in env.items()), *command]
