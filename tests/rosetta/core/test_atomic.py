import pytest

from rosetta.core.atomic import atomic_dir, atomic_file


def test_atomic_dir_replaces_on_success(tmp_path):
    target = tmp_path / "artifact"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()  # nothing visible before the rename
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]


def test_atomic_dir_keeps_the_old_one_on_error(tmp_path):
    target = tmp_path / "artifact"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("converter crashed")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]


def test_atomic_file_leaves_no_partial_file(tmp_path):
    target = tmp_path / "model.keras"
    with pytest.raises(ValueError):
        with atomic_file(target) as tmp:
            assert tmp.name == "model.keras"
            tmp.write_bytes(b"partial")
            raise ValueError("save failed")
    assert list(tmp_path.iterdir()) == []
