"""The project's lock files: every environment `make` builds installs exactly one of them, nothing else resolves.

  python -m tools.lock compile UV    uv pip compile every lock below (network: PyPI + /opt/wheels)
  python -m tools.lock derive        the images' requirement files, cut from requirements.lock
  python -m tools.lock check         exit 1 if a derived file differs from what `derive` would write

`make lock` runs all three around a re-install of .venv. A lock is uv's output with hashes; installs use
`pip install --require-hashes` (the project venv adds `--no-deps`: the lock is its whole closure, and the
converters in requirements-nodeps.txt must not pull their published pins).
"""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_LOCK = ROOT / "requirements.lock"
NODEPS = ROOT / "requirements-nodeps.txt"
CONSTRAINTS = ROOT / "tools" / "lock-constraints.txt"  # torch's CPU build, and what uv would get wrong
FIND_LINKS = "/opt/wheels"
PLATFORM = ["--python-version", "3.11.7", "--python-platform", "x86_64-manylinux_2_28"]
NODEPS_MARK = "# ---- installed without their published dependencies:"
TFSERVING_DOCKERFILE = ROOT / "serving" / "tfserving" / "Dockerfile"


@dataclass(frozen=True)
class SideLock:
    """A virtualenv of its own (tools, the TF Serving runtime check, the benchmark anchor): input -> lock."""
    requirements: Path
    lock: Path


SIDE_LOCKS = [
    SideLock(ROOT / "tools" / "k8s-check" / "requirements.in", ROOT / "tools" / "k8s-check" / "requirements.lock"),
    SideLock(ROOT / "serving" / "tfserving" / "requirements.in", ROOT / "serving" / "tfserving" / "requirements.lock"),
    SideLock(ROOT / "benchmarks" / "serving" / "mlserver-requirements.in",
             ROOT / "benchmarks" / "serving" / "mlserver-requirements.lock"),
]


@dataclass(frozen=True)
class Image:
    """A container image's requirement file: the closure of `roots` at requirements.lock's versions and hashes."""
    path: Path
    what: str
    roots: tuple[str, ...]


IMAGES = [
    Image(ROOT / "serving" / "onnx" / "requirements.txt", "the ONNX Runtime server image (serving/onnx/Dockerfile)",
          ("kserve", "onnxruntime", "numpy", "orjson", "pyyaml", "prometheus-client", "uvloop")),
    Image(ROOT / "serving" / "parity" / "requirements.txt",
          "the one-shot parity check of serving/docker-compose.yml (pytest against both servers)",
          ("kserve", "onnxruntime", "numpy", "orjson", "pyyaml", "prometheus-client", "uvloop", "httpx", "aiohttp",
           "tensorflow-serving-api", "pytest", "pytest-timeout")),
    # tqdm (torch.hub) and flatbuffers (jax export) are optional imports that succeed in the venv: pinned too, so
    # the pods import what the tests ran; cloudpickle likewise (an optional import of the training stack once the
    # venv holds it).
    Image(ROOT / "models" / "distributed" / "requirements.txt",
          "the training image (models/distributed/Dockerfile)",
          ("torch", "jax", "jaxlib", "flax", "optax", "numpy", "tqdm", "flatbuffers", "cloudpickle")),
]


@dataclass
class Pin:
    name: str
    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)
    no_deps: bool = False  # from the section installed without dependency metadata

    def line(self, extras: frozenset[str] = frozenset()) -> str:
        """The requirement line; pip's hash mode wants a package required with extras pinned with them."""
        name = f"{self.name}[{','.join(sorted(extras))}]" if extras else self.name
        return " \\\n".join([f"{name}=={self.version}", *(f"    --hash={h}" for h in self.hashes)])


def canonical(name: str) -> str:
    """PEP 503 normalised name (packaging's canonicalize_name; `compile` runs where only uv is installed)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(text: str) -> dict[str, Pin]:
    """canonical name -> Pin, from uv's `--generate-hashes` output (or any `name==version` list)."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    no_deps = False
    in_via = False
    for raw in text.splitlines():
        line = raw.strip()
        if raw.startswith(NODEPS_MARK):
            no_deps = True
        if not line:
            continue
        if line.startswith("--hash="):
            assert current is not None, raw
            current.hashes.append(line.removeprefix("--hash=").rstrip(" \\"))
        elif line.startswith("#"):
            comment = line.lstrip("# ").strip()
            if current is None:
                continue
            if comment.startswith("via "):
                current.via.append(comment.removeprefix("via ").strip())
                in_via = False
            elif comment == "via":
                in_via = True
            elif in_via:
                current.via.append(comment)
        elif not line.startswith("-"):
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+?)\s*\\?", line)
            if not match:
                raise ValueError(f"not a pinned requirement: {raw!r}")
            current = Pin(match[1], match[2], no_deps=no_deps)
            pins[canonical(match[1])] = current
            in_via = False
    return pins


def load(path: Path = PROJECT_LOCK) -> dict[str, Pin]:
    return parse(path.read_text())


def closure(roots: tuple[str, ...] | list[str], pins: dict[str, Pin]) -> dict[str, tuple[Pin, frozenset[str]]]:
    """The roots and everything they require, each at its pinned version with the extras asked of it (followed).
    Dependencies are read from the installed distributions' metadata, which must be the pinned versions (the venv
    built from the lock)."""
    from packaging.requirements import Requirement

    out: dict[str, tuple[Pin, frozenset[str]]] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    stack = [(canonical(r), frozenset[str]()) for r in roots]
    while stack:
        name, extras = stack.pop()
        if (name, extras) in done:
            continue
        done.add((name, extras))
        if name not in pins:
            raise KeyError(f"{name} is required but not in the lock: run `make lock`")
        dist = metadata.distribution(name)
        if dist.version != pins[name].version:
            raise RuntimeError(f"{name} {dist.version} is installed, the lock says {pins[name].version}: `make venv`")
        out[name] = (pins[name], out.get(name, (None, frozenset()))[1] | extras)
        environments = [{"extra": e} for e in (extras or {""})]
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate(env) for env in environments):
                stack.append((canonical(req.name), frozenset(req.extras)))
    return dict(sorted(out.items()))


def render_image(image: Image, pins: dict[str, Pin]) -> str:
    header = [f"# The pinned install set of {image.what}: {', '.join(image.roots)}",
              "# and their whole closure, at requirements.lock's versions and hashes. Generated: `make lock`",
              "# (python -m tools.lock derive); install with `pip install --require-hashes -r <this file>`."]
    return "\n".join(header + [p.line(extras) for p, extras in closure(image.roots, pins).values()]) + "\n"


def _uv(uv: str, *args: str) -> str:
    proc = subprocess.run([uv, "pip", "compile", "--quiet", "--generate-hashes", "--no-header", *PLATFORM,
                           "--constraint", str(CONSTRAINTS.relative_to(ROOT)), "--find-links", FIND_LINKS, *args],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"uv pip compile {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def compile_all(uv: str) -> None:
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    main = _uv(uv, "pyproject.toml", "--extra", "dev")
    nodeps = _uv(uv, str(NODEPS.relative_to(ROOT)), "--no-deps")
    PROJECT_LOCK.write_text(
        f"# The project environment's whole closure, locked by {version}: `make lock` (python -m tools.lock compile).\n"
        "# Inputs: pyproject.toml [dev], then requirements-nodeps.txt; tools/lock-constraints.txt holds both.\n"
        "# `make venv` installs it with pip install --no-deps --require-hashes: nothing else resolves.\n"
        + main + f"\n{NODEPS_MARK} requirements-nodeps.txt (their\n# published pins are broken with"
        " current TensorFlow; pyproject.toml lists what they really import)\n" + nodeps)
    for side in SIDE_LOCKS:
        side.lock.write_text(f"# Locked by {version} from {side.requirements.name}: `make lock`. Installed with\n"
                             "# pip install --require-hashes.\n" + _uv(uv, str(side.requirements.relative_to(ROOT))))


def derive() -> None:
    pins = load()
    for image in IMAGES:
        image.path.write_text(render_image(image, pins))


def stale_images() -> list[str]:
    pins = load()
    return [str(i.path.relative_to(ROOT)) for i in IMAGES if i.path.read_text() != render_image(i, pins)]


def main(argv: list[str]) -> int:
    if argv[:1] == ["compile"] and len(argv) == 2:
        compile_all(argv[1])
    elif argv == ["derive"]:
        derive()
    elif argv == ["check"]:
        stale = stale_images()
        if stale:
            print("stale (run `make lock`): " + ", ".join(stale), file=sys.stderr)
            return 1
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
