"""The site offers the further formats a model has (OpenVINO's two files, ExecuTorch, ONNX and LiteRT variants) with
their snippets and in the archive, lists a failed one as unavailable, and does not list one the model never had."""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from rosetta.web.site import build_site

FILES = {"openvino": {"model.xml": b"<net/>", "model.bin": b"\x00" * 8}, "executorch": {"model.pte": b"pte"},
         "onnx-int8": {"model.onnx": b"int8"}, "tflite-fp16": {"model.tflite": b"fp16"}}


def _add(root: Path, fmt: str, files: dict[str, bytes], status: str = "ok") -> None:
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    entry = json.loads(json.dumps(next(e for e in manifest["artifacts"] if e["format"] == "onnx")))
    fmt_dir = root / "fake-model" / "1" / fmt
    fmt_dir.mkdir(parents=True)
    for name, data in files.items():
        (fmt_dir / name).write_bytes(data)
    sha = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    main = next(iter(files))
    entry.update(format=fmt, status=status, path=f"fake-model/1/{fmt}/{main}", bytes=sum(map(len, files.values())))
    entry.pop("files", None)
    if len(files) > 1:
        entry["sha256"] = hashlib.sha256("".join(f"{n} {sha[n]}\n" for n in sorted(files)).encode()).hexdigest()
        entry["files"] = [{"path": n, "bytes": len(files[n]), "sha256": sha[n]} for n in sorted(files)]
    else:
        entry["sha256"] = sha[main]
    manifest["artifacts"].append(entry)
    path.write_text(json.dumps(manifest))


def test_further_formats_are_offered_with_snippets_and_archived(fake_artifacts: Path, tmp_path: Path) -> None:
    for fmt, files in FILES.items():
        _add(fake_artifacts, fmt, files)
    _add(fake_artifacts, "onnx-fp16", {"model.onnx": b"fp16"}, status="gate-failed")
    site = build_site(fake_artifacts, tmp_path / "site")
    index = json.loads((site / "index.json").read_text())
    (model,) = index["models"]
    offered = {a["format"]: a for a in model["artifacts"]}
    assert set(FILES) <= set(offered) and "onnx-fp16" not in offered
    assert [f["url"].rsplit("/", 1)[1] for f in offered["openvino"]["files"]] == ["model.xml", "model.bin"]
    assert offered["openvino"]["sha256_of"] == "tree"
    assert index["unavailable"] == [{"model_name": "fake-model", "format": "onnx-fp16", "reason": "status gate-failed"}]
    page = (site / "index.html").read_text()
    for title in ("OpenVINO (Python)", "OpenVINO (C++)", "ExecuTorch (Python)", "ExecuTorch on Android (Kotlin)",
                  "ONNX Runtime (Python), onnx-int8", "LiteRT on Android (Kotlin), tflite-fp16"):
        assert title in page, title
    with zipfile.ZipFile(site / "downloads" / "fake-model-mobile-web.zip") as zf:
        names = set(zf.namelist())
    assert {"fake-model-mobile-web/openvino/model.bin", "fake-model-mobile-web/executorch/model.pte"} <= names
