"""requirements.lock against pyproject.toml and the installed venv, the side locks against their inputs, the
images' requirement files against the lock. Offline: nothing here fails because the package index moved."""
import re
import sysconfig
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import lock

ROOT = lock.ROOT


def _declared() -> list[Requirement]:
    """What the project asks for: pyproject's dependencies and dev extra, then the --no-deps converters."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["dev"]
    lines += [l for l in lock.NODEPS.read_text().splitlines() if l.strip() and not l.startswith("#")]
    return [Requirement(l) for l in lines]


def test_every_declared_requirement_is_locked_at_a_version_it_allows():
    pins = lock.load()
    wrong = {str(r): pins[canonicalize_name(r.name)].version if canonicalize_name(r.name) in pins else "missing"
             for r in _declared()
             if canonicalize_name(r.name) not in pins
             or not r.specifier.contains(pins[canonicalize_name(r.name)].version, prereleases=True)}
    assert not wrong, f"pyproject.toml and requirements.lock disagree, run `make lock`: {wrong}"


def test_the_lock_holds_nothing_the_project_no_longer_asks_for():
    """Every pin is reached from a declared requirement through uv's `via` chain; a dependency removed from
    pyproject.toml leaves pins that reach nothing."""
    pins = lock.load()
    declared = {canonicalize_name(r.name) for r in _declared()}
    orphans = []
    for name, pin in pins.items():
        sources = {canonicalize_name(v.split()[0]) for v in pin.via if not v.startswith(("-", "rosetta-export"))}
        from_project = any(v.startswith(("rosetta-export", "-r requirements-nodeps", "--override")) for v in pin.via)
        if not (from_project and name in declared) and not (sources and sources <= set(pins)):
            orphans.append(name)
    assert not orphans, f"in requirements.lock but asked for by nothing: {orphans}; run `make lock`"


def test_converters_without_dependencies_are_the_nodeps_file_and_nothing_else():
    pins = lock.load()
    nodeps = {canonicalize_name(Requirement(l).name) for l in lock.NODEPS.read_text().splitlines()
              if l.strip() and not l.startswith("#")}
    assert {n for n, p in pins.items() if p.no_deps} == nodeps


def test_torch_is_locked_to_its_cpu_build():
    assert lock.load()["torch"].version.endswith("+cpu")
    assert all(p.hashes for p in lock.load().values()), "every pin carries its hashes (pip --require-hashes)"


def test_the_venv_is_the_lock():
    """`make venv` installed exactly the lock's versions: a package at another version, or one the lock lacks,
    means the venv was changed by hand or the lock moved without a re-install."""
    pins = lock.load()
    site = sysconfig.get_paths()["purelib"]  # the venv itself: not whatever else a test put on sys.path
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=[site])}
    installed.pop("rosetta-export")  # the project itself, editable
    for tool in ("pip",):  # the installer, pinned by the Makefile
        installed.pop(tool, None)
    assert {n: v for n, v in installed.items() if pins.get(n) is None or pins[n].version != v} == {}
    assert set(pins) - set(installed) == set()


def test_the_lock_is_a_complete_closure():
    """pip installs the lock with --no-deps, so nothing checks the closure at install time: this does. Every
    installed requirement of a locked package (markers evaluated here) is satisfied by a locked version, except
    the published pins of the converters installed without dependencies."""
    pins = lock.load()
    unmet = []
    for name, pin in pins.items():
        if pin.no_deps:
            continue
        for line in metadata.distribution(name).requires or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            dep = pins.get(canonicalize_name(req.name))
            if dep is None or not req.specifier.contains(dep.version, prereleases=True):
                unmet.append(f"{name} needs {req}, lock has {dep.version if dep else 'nothing'}")
    assert not unmet, unmet


@pytest.mark.parametrize("side", lock.SIDE_LOCKS, ids=lambda s: str(s.lock.relative_to(ROOT)))
def test_side_locks_pin_their_inputs(side):
    pins = lock.parse(side.lock.read_text())
    for line in side.requirements.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            assert canonicalize_name(req.name) in pins, f"{req} is not in {side.lock.name}: run `make lock`"
            assert req.specifier.contains(pins[canonicalize_name(req.name)].version), (str(req), side.lock)
    assert all(p.hashes for p in pins.values())


def test_tfserving_lock_is_the_tensorflow_of_the_image_tag():
    tag = re.search(r"^FROM tensorflow/serving:(\S+)$", lock.TFSERVING_DOCKERFILE.read_text(), re.M)[1]
    side = next(s for s in lock.SIDE_LOCKS if s.lock.parent == lock.TFSERVING_DOCKERFILE.parent)
    assert lock.parse(side.lock.read_text())["tensorflow-cpu"].version == tag


@pytest.mark.parametrize("image", lock.IMAGES, ids=lambda i: str(i.path.relative_to(ROOT)))
def test_image_requirements_are_cut_from_the_lock(image):
    assert image.path.read_text() == lock.render_image(image, lock.load()), \
        f"{image.path.relative_to(ROOT)} is stale: `make lock` (python -m tools.lock derive)"


def test_parse_reads_uv_output_with_hashes_and_via():
    text = ("absl-py==2.5.1 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via\n    #   chex\n"
            "    #   keras\nzipp==4.1.2 \\\n    --hash=sha256:cc\n    # via etils\n"
            f"{lock.NODEPS_MARK} x\nsng4onnx==2.0.1 \\\n    --hash=sha256:dd\n    # via -r requirements-nodeps.txt\n")
    pins = lock.parse(text)
    assert pins["absl-py"].hashes == ["sha256:aa", "sha256:bb"] and pins["absl-py"].via == ["chex", "keras"]
    assert pins["zipp"].via == ["etils"] and not pins["zipp"].no_deps
    assert pins["sng4onnx"].no_deps and pins["sng4onnx"].via == ["-r requirements-nodeps.txt"]
    with pytest.raises(ValueError, match="not a pinned requirement"):
        lock.parse("numpy>=2\n")


def test_closure_refuses_a_venv_that_is_not_the_lock():
    pins = {"numpy": lock.Pin("numpy", "0.0.1")}
    with pytest.raises(RuntimeError, match="the lock says 0.0.1"):
        lock.closure(["numpy"], pins)
    with pytest.raises(KeyError, match="not in the lock"):
        lock.closure(["numpy"], {})
