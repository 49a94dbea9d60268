"""Version directories: numbering, refusal to overwrite, and the atomic publish of a staged version."""
import pytest

from rosetta.core.version_dirs import VersionError, check_free, next_version, published_versions, staged_version


def test_next_version_is_one_above_every_version_on_disk_or_recorded(tmp_path):
    assert next_version(tmp_path, "m") == 1
    for name in ("1", "3", ".4.abc.staging", "onnx", "07"):  # staging dirs and non-versions are not versions
        (tmp_path / "m" / name).mkdir(parents=True)
    assert published_versions(tmp_path, "m") == [1, 3]
    assert next_version(tmp_path, "m") == 4
    assert next_version(tmp_path, "m", recorded=[9]) == 10  # a number the manifest has seen is never reused


@pytest.mark.parametrize("version, message", [(0, "positive integer"), (-2, "positive integer"),
                                              ("2", "positive integer"), (True, "positive integer")])
def test_check_free_refuses_bad_numbers(tmp_path, version, message):
    with pytest.raises(VersionError, match=message):
        check_free(tmp_path, "m", version)


def test_check_free_refuses_an_existing_version(tmp_path):
    (tmp_path / "m" / "2").mkdir(parents=True)
    check_free(tmp_path, "m", 1)
    with pytest.raises(VersionError, match=r"m/2 exists: version 2 of m is published and versions are never "
                                           r"overwritten"):
        check_free(tmp_path, "m", 2)


def test_published_version_appears_whole_and_staging_is_cleaned(tmp_path):
    with staged_version(tmp_path, "m", 1) as staged:
        (staged.dir / "onnx").mkdir()
        (staged.dir / "onnx" / "model.onnx").write_bytes(b"x")
        (staged.work / "intermediate").mkdir(parents=True)
        assert not (tmp_path / "m" / "1").exists()  # nothing visible before publish
        assert staged.publish() == tmp_path / "m" / "1"
    assert (tmp_path / "m" / "1" / "onnx" / "model.onnx").read_bytes() == b"x"
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["1"]


def test_an_unpublished_or_crashed_export_leaves_nothing(tmp_path):
    with staged_version(tmp_path, "m", 1) as staged:
        (staged.dir / "half").write_bytes(b"half")
    with pytest.raises(KeyboardInterrupt):
        with staged_version(tmp_path, "m", 1) as staged:
            (staged.dir / "half").write_bytes(b"half")
            raise KeyboardInterrupt
    assert list((tmp_path / "m").iterdir()) == []
    check_free(tmp_path, "m", 1)  # the retry is not blocked


def test_a_version_published_meanwhile_is_not_overwritten(tmp_path):
    with staged_version(tmp_path, "m", 1) as staged:
        (staged.dir / "mine").write_bytes(b"mine")
        (tmp_path / "m" / "1").mkdir()
        (tmp_path / "m" / "1" / "theirs").write_bytes(b"theirs")  # a concurrent export won the race
        with pytest.raises(VersionError, match="published by someone else meanwhile"):
            staged.publish()
    assert [p.name for p in (tmp_path / "m" / "1").iterdir()] == ["theirs"]
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["1"]
