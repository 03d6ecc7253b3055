"""``minilm-repro tasks import`` on the real files in shared/realdata: counts, determinism, the split by
document, the SQuAD 2.0 de-duplication, and one clear line for each bad source."""

import hashlib
import json
from pathlib import Path

import datasets
import pytest

from minilm_repro.cli import main
from minilm_repro.data import layout
from minilm_repro.data.importing import file_sha256, import_task, read_source_json

REPO = Path(__file__).resolve().parents[1]
# shared/ beside the checkout: /work/main -> /work/shared, a worktree /work/wt/x -> /work/shared
REALDATA = next((p / "shared" / "realdata" for p in REPO.parents if (p / "shared" / "realdata").is_dir()),
                REPO.parent / "shared" / "realdata")
pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"shared real-data samples not found at {REALDATA}")

# rows of the source files (MANIFEST.md of shared/realdata)
DEV_ROWS = {"qnli": 5463, "rte": 277, "mrpc": 408, "stsb": 1500}
SOURCES = {"qnli": "glue/QNLI", "rte": "glue/RTE", "mrpc": "glue/MRPC", "stsb": "glue/STS-B"}
PAIR_COLUMNS = {"qnli": ("question", "sentence"), "rte": ("sentence1", "sentence2"), "mrpc": ("sentence1", "sentence2"),
                "stsb": ("sentence1", "sentence2")}
FRACTION = 0.3
datasets.disable_progress_bars()


def _cli(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _import_all(root: Path) -> None:
    for task, src in SOURCES.items():
        import_task(task, REALDATA / src, root, split_dev=FRACTION)
    import_task("squad_v2", REALDATA / "squad2", root, split_dev=FRACTION)
    import_task("glue/sst2", REALDATA / "glue/SST-2", root)


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tasks")
    _import_all(root)
    return root


def _hash01(key: str) -> float:
    # the documented rule, written out independently of minilm_repro.data.importing
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:16], 16) / 2**64


@pytest.mark.parametrize("task", list(SOURCES))
def test_dev_split_counts_and_source_json(imported, task):
    train = layout.load_split(imported, task, "default", "train")
    val = layout.load_split(imported, task, "default", "validation")
    assert len(train) + len(val) == DEV_ROWS[task]
    # a fraction of documents, not rows: the rows land near it, not on it
    assert 0.15 < len(val) / DEV_ROWS[task] < 0.45
    meta = read_source_json(imported, task)
    [source] = meta["sources"]
    src_file = next((REALDATA / SOURCES[task]).glob("dev*.tsv"))
    assert source["sha256"] == file_sha256(src_file) and source["rows"] == DEV_ROWS[task]
    assert Path(source["path"]) == src_file.resolve()
    assert meta["splits"] == {"train": len(train), "validation": len(val)}
    derived = meta["derived"]
    assert derived["validation_fraction"] == FRACTION and derived["from_split"] == "validation"
    assert derived["rows"] == meta["splits"] and sum(derived["groups"].values()) > 0
    # the source's own row numbers survive, so every row can be traced back to the dev file
    assert sorted(list(train["idx"]) + list(val["idx"])) == list(range(DEV_ROWS[task]))


@pytest.mark.parametrize("task", list(SOURCES))
def test_no_group_straddles_the_split(imported, task):
    train = layout.load_split(imported, task, "default", "train")
    val = layout.load_split(imported, task, "default", "validation")
    texts = lambda ds: {t for c in PAIR_COLUMNS[task] for t in ds[c]}  # noqa: E731
    assert not texts(train) & texts(val), "a text occurs on both sides of the split"
    # a row none of whose texts occurs elsewhere in the dev file is a group of its own, keyed by its
    # first text: its side is exactly the hash rule's
    from collections import Counter

    every = Counter(t for ds in (train, val) for c in PAIR_COLUMNS[task] for t in ds[c])
    checked = 0
    for ds, want_val in ((train, False), (val, True)):
        for row in zip(*(ds[c] for c in PAIR_COLUMNS[task])):
            if all(every[t] == 1 for t in row):
                assert (_hash01(row[0]) < FRACTION) == want_val, row
                checked += 1
    assert checked > DEV_ROWS[task] // 5  # QNLI: 1451 of 5463 rows share no text


def test_squad2_slices_merged_without_duplicates(imported):
    train = layout.load_split(imported, "squad_v2", "default", "train")
    val = layout.load_split(imported, "squad_v2", "default", "validation")
    assert len(train) + len(val) == 6078 + 498  # CS224n's 16 articles (with Normans) + Rhine of the official slice
    ids = list(train["id"]) + list(val["id"])
    assert len(set(ids)) == len(ids)
    titles = lambda ds: set(ds["title"])  # noqa: E731
    assert not titles(train) & titles(val)
    assert len(titles(train) | titles(val)) == 17
    assert all(_hash01(t) < FRACTION for t in titles(val)) and all(_hash01(t) >= FRACTION for t in titles(train))
    normans = [r for ds in (train, val) for r in ds if r["title"] == "Normans"]
    assert len(normans) == 208
    meta = read_source_json(imported, "squad_v2")
    files = {Path(f["path"]).name: f for f in meta["dedup"]["validation"]["files"]}
    official = files["dev-v2.0.official-slice-Normans-Rhine.json"]
    assert official["articles_skipped"] == ["Normans"] and official["dropped_article_already_read"] == 208
    assert official["kept"] == 498 and files["cs224n-dev-v2.0.json"]["kept"] == 6078
    answerable = sum(1 for ds in (train, val) for a in ds["answers"] if a["text"])
    assert answerable == meta["answerable"]["train"] + meta["answerable"]["validation"]


def test_distributed_splits_are_kept(imported):
    meta = read_source_json(imported, "glue/sst2")
    assert meta["splits"] == {"train": 67349, "validation": 872} and meta["derived"] is None
    assert {Path(s["path"]).name for s in meta["sources"]} == {"train.tsv", "dev.tsv"}


def test_xnli_and_mlqa(tmp_path):
    res = import_task("xnli", REALDATA / "xnli", tmp_path)
    assert res.splits == {"de": {"validation": 250, "test": 5010}}
    assert import_task("xnli", REALDATA / "xnli", tmp_path / "de", config="de").splits == res.splits
    with pytest.raises(ValueError, match=r"has no xnli files for config 'fr'"):
        import_task("xnli", REALDATA / "xnli", tmp_path / "fr", config="fr")
    res = import_task("mlqa", REALDATA / "mlqa", tmp_path)
    assert res.splits == {"de.de": {"validation": 512}}
    assert len(layout.load_split(tmp_path, "mlqa", "de.de", "validation")) == 512


def test_two_imports_give_identical_files(imported, tmp_path):
    _import_all(tmp_path)
    ours = sorted(p.relative_to(imported) for p in imported.rglob("*") if p.is_file())
    again = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert ours == again and any(p.suffix == ".parquet" for p in ours)
    for rel in ours:
        assert (imported / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_reimport_replaces_the_config(tmp_path):
    import_task("glue/rte", REALDATA / "glue/RTE", tmp_path)  # dev only: validation
    import_task("glue/rte", REALDATA / "glue/RTE", tmp_path, split_dev=0.5)
    assert sorted(p.name for p in (tmp_path / "rte" / "default").iterdir()) == \
        ["SOURCE.json", "train.parquet", "validation.parquet"]
    import_task("glue/rte", REALDATA / "glue/RTE", tmp_path)
    assert sorted(p.name for p in (tmp_path / "rte" / "default").iterdir()) == ["SOURCE.json", "validation.parquet"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_import(tmp_path, capsys):
    rc, out, err = _cli(["tasks", "import", "glue/mrpc", "--source", str(REALDATA / "glue/MRPC"), "--out", str(tmp_path),
                         "--split-dev", "0.3"], capsys)
    assert rc == 0, err
    shown = json.loads(out)
    assert sum(shown["splits"]["default"].values()) == 408
    assert Path(shown["source_json"][0]).is_file()


@pytest.mark.parametrize("argv, message", [
    (["glue/rte", "--source", "{R}/no/such/folder"], r"source .*/no/such/folder does not exist"),
    (["glue/rte", "--source", "{R}/glue"],
     r"folder .*/glue has no glue/rte files: looked for train\.tsv, dev\.tsv, test\.tsv"),
    (["glue/rte", "--source", "{R}/squad2/cs224n-dev-v2.0.json"], r"is a \.json file; task glue/rte reads \.tsv files"),
    (["squad_v2", "--source", "{R}/glue/RTE/dev.tsv"], r"is a \.tsv file; task squad_v2 reads \.json files"),
    (["glue/rte", "--source", "{R}/glue/QNLI"], r"the header lacks column\(s\) \['sentence1', 'sentence2'\]"),
    (["squad_v2", "--source", "{T}/bad.json"], r"bad\.json, line 1: not valid JSON"),
    (["glue/rte", "--source", "{R}/glue/RTE", "--split-dev", "0.0001"],
     r"at validation fraction 0\.0001 leaves validation empty; choose a larger --split-dev"),
    (["glue/rte", "--source", "{R}/glue/RTE", "--split-dev", "0.9999"],
     r"at validation fraction 0\.9999 leaves train empty; choose a smaller --split-dev"),
    (["glue/sst2", "--source", "{R}/glue/SST-2", "--split-dev", "0.3"], r"already has a train split \(67349 rows\)"),
    (["glue/rte", "--source", "{R}/glue/RTE", "--split-dev", "1.5"], r"must be strictly between 0 and 1"),
])
def test_bad_sources_are_one_clear_line(tmp_path, capsys, argv, message):
    import re

    (tmp_path / "bad.json").write_text("index\tsentence1\n0\tnot json\n")
    argv = [a.replace("{R}", str(REALDATA)).replace("{T}", str(tmp_path)) for a in argv]
    rc, out, err = _cli(["tasks", "import", *argv, "--out", str(tmp_path / "out")], capsys)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.parquet"))
