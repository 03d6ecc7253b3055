"""A task's official release archive (e.g. MLQA_V1.zip): downloaded by a local rule, checked, unpacked.

The hub copy of some tasks exists only as a bot-made branch (MLQA's ``refs/convert/parquet``), which
can vanish; the authors' release files are the reference. ``fetch_release`` downloads the archive
(a zip or tar), checks its sha256 when the config states one, and unpacks it into ``out_dir``
atomically; ``minilm-repro tasks import`` then reads the files in their distributed format.
"""

from __future__ import annotations

import shutil
import tarfile
import urllib.request
import zipfile
from pathlib import Path

from minilm_repro.jobs.atomic import partial_dir, replace_dir, write_json


class ReleaseError(RuntimeError):
    """A release that cannot be fetched or unpacked as stated (one line naming the fix)."""


def fetch_release(url: str, out_dir: str | Path, sha256: str | None = None) -> dict:
    """Download ``url`` and unpack it into ``out_dir`` (with ``RELEASE.json``: url, sha256, files)."""
    from minilm_repro.data.corpus import file_sha256

    out_dir = Path(out_dir)
    tmp = partial_dir(out_dir)
    tmp.mkdir(parents=True)
    archive = tmp / Path(url.split("?")[0]).name
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as fh:
            shutil.copyfileobj(response, fh, 1 << 20)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ReleaseError(f"cannot download {url} ({exc}): on a machine with network run `wget {url}` and point "
                           "the task's source at the unpacked folder (task_sources.<task>.path)") from None
    digest = file_sha256(archive)
    if sha256 is not None and digest != sha256.lower():
        shutil.rmtree(tmp, ignore_errors=True)
        raise ReleaseError(f"{url}: sha256 {digest} differs from the configured {sha256}: the release changed or "
                           "the download is corrupt; check the file, then update task_sources.<task>.sha256")
    try:
        unpack(archive, tmp / "files")
    except ReleaseError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    archive.unlink()
    files = sorted(str(p.relative_to(tmp / "files")) for p in (tmp / "files").rglob("*") if p.is_file())
    write_json(tmp / "RELEASE.json", {"url": url, "sha256": digest, "files": files})
    replace_dir(tmp, out_dir)
    return {"url": url, "sha256": digest, "files": len(files)}


def unpack(archive: Path, into: Path) -> None:
    """Unpack a zip or tar archive; members that would land outside ``into`` are an error."""
    into.mkdir(parents=True)
    root = into.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            _inside(root, names, archive)
            z.extractall(into)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            _inside(root, t.getnames(), archive)
            t.extractall(into, filter="data")
    else:
        raise ReleaseError(f"{archive.name} is neither a zip nor a tar archive: give the release archive's URL")


def _inside(root: Path, names: list[str], archive: Path) -> None:
    bad = [n for n in names if not (root / n).resolve().is_relative_to(root)]
    if bad:
        raise ReleaseError(f"{archive.name}: members outside the archive's folder ({bad[:3]}): refusing to unpack")


def run_fetch_release(spec) -> int:
    """The ``fetch-release`` stage: ``settings.url`` (and ``sha256``) into ``paths.out``."""
    import json

    print(json.dumps(fetch_release(spec.settings["url"], spec.paths["out"], spec.settings.get("sha256"))))
    return 0
