"""A task's official release archive (MLQA_V1.zip's layout), fetched from a URL (file:// here), checked and
unpacked; a changed archive or one with members outside its folder is refused, leaving nothing."""

import zipfile

import pytest
from conftest import SHARED

from minilm_repro.data.release import ReleaseError, fetch_release

MLQA_DE = SHARED / "realdata" / "mlqa" / "dev-context-de-question-de.json"


def _release(tmp_path, members: dict[str, bytes]):
    archive = tmp_path / "MLQA_V1.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return archive


def test_release_is_unpacked_with_its_digest(tmp_path):
    from minilm_repro.data.corpus import file_sha256
    from minilm_repro.data.tasks import load_task_configs

    archive = _release(tmp_path, {"MLQA_V1/dev/dev-context-de-question-de.json": MLQA_DE.read_bytes()})
    out = tmp_path / "releases" / "mlqa"
    got = fetch_release(archive.as_uri(), out, sha256=file_sha256(archive))
    assert got["files"] == 1 and (out / "RELEASE.json").is_file()
    data = load_task_configs("mlqa", out / "files")  # the readers take the release's own layout
    assert len(data["de.de"]["validation"]) == 512


def test_a_changed_archive_is_refused(tmp_path):
    archive = _release(tmp_path, {"MLQA_V1/dev/x.json": b"{}"})
    with pytest.raises(ReleaseError, match="differs from the configured 0{64}: the release changed"):
        fetch_release(archive.as_uri(), tmp_path / "out", sha256="0" * 64)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_members_outside_the_archive_folder_are_refused(tmp_path):
    archive = _release(tmp_path, {"../evil.json": b"{}"})
    with pytest.raises(ReleaseError, match="members outside the archive's folder"):
        fetch_release(archive.as_uri(), tmp_path / "out")
    assert not (tmp_path / "evil.json").exists() and not (tmp_path / "out.partial").exists()
