"""One loader for every source (file, folder, canonical layout, hub id) and the ``tasks`` CLI."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from minilm_repro.data import layout, readers
from minilm_repro.data.cli import register
from minilm_repro.data.features import FEATURES
from minilm_repro.data.tasks import (
    HubUnavailableError,
    TaskSourceError,
    download_task,
    load_task,
    load_task_configs,
    resolve_task,
    source_kind,
)

REPO = Path(__file__).resolve().parents[1]
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"shared real-data samples not found at {REALDATA}")


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="minilm-repro")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(autouse=True)
def _offline():
    # conftest sets HF_HUB_OFFLINE=1 before datasets is imported; never let a test reach the network
    assert datasets.config.HF_HUB_OFFLINE, "tests must run with HF_HUB_OFFLINE=1"


def test_task_names():
    assert resolve_task("glue/cola") == "cola" and resolve_task("rte") == "rte"
    assert resolve_task("squad_v2") == "squad_v2" and resolve_task("mlqa") == "mlqa"
    with pytest.raises(TaskSourceError, match=r"unknown task 'glue/xnli'; tasks: glue/cola, .*mlqa"):
        resolve_task("glue/xnli")


# --------------------------------------------------------------------------- local files and folders


@needs_realdata
def test_single_file_becomes_one_split():
    dd = load_task("glue/rte", REALDATA / "glue/RTE/dev.tsv")
    assert list(dd) == ["validation"] and len(dd["validation"]) == 277
    assert dd["validation"].features == FEATURES["rte"]
    dd = load_task("xnli", REALDATA / "xnli/de/test.tsv", split="test")
    assert list(dd) == ["test"] and len(dd["test"]) == 5010
    with pytest.raises(TaskSourceError, match=r"split 'dev' is not a split of task 'xnli'; splits: train, validation, test"):
        load_task("xnli", REALDATA / "xnli/de/test.tsv", split="dev")


def test_single_mnli_file_defaults_to_matched(tmp_path):
    path = tmp_path / "dev_matched.tsv"
    path.write_text("index\tsentence1\tsentence2\tgold_label\n0\tA.\tB.\tcontradiction\n")
    dd = load_task("glue/mnli", path)
    assert list(dd) == ["validation_matched"] and dd["validation_matched"]["label"] == [2]


@needs_realdata
def test_folder_of_distributed_files():
    assert source_kind("xnli", REALDATA / "xnli") == "dir"
    every = load_task_configs("xnli", REALDATA / "xnli")
    assert list(every) == ["de"]
    assert {s: len(ds) for s, ds in every["de"].items()} == {"validation": 250, "test": 5010}
    sst = load_task("glue/sst2", REALDATA / "glue/SST-2")
    assert {s: len(ds) for s, ds in sst.items()} == {"train": 67349, "validation": 872}
    only_dev = load_task("glue/sst2", REALDATA / "glue/SST-2", split="validation")
    assert list(only_dev) == ["validation"]
    mlqa = load_task("mlqa", REALDATA / "mlqa", config="mlqa.de.de")
    assert len(mlqa["validation"]) == 512
    with pytest.raises(TaskSourceError, match=r"no mlqa files for config 'en.en'"):
        load_task("mlqa", REALDATA / "mlqa", config="en.en")


@needs_realdata
def test_folder_with_two_files_for_one_split_is_an_error():
    with pytest.raises(TaskSourceError, match=r"both .*cs224n-dev-v2\.0\.json and .*Normans-Rhine\.json hold squad_v2 "
                                              r"config 'default' split 'validation'"):
        load_task("squad_v2", REALDATA / "squad2")


def test_missing_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such file or directory, and not a hub id"):
        load_task("rte", str(tmp_path / "nothing" / "here" / "dev.tsv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TaskSourceError, match=r"neither a canonical layout root .* nor a folder of distributed files"):
        load_task("rte", tmp_path / "empty")


# --------------------------------------------------------------------------- canonical layout


def _nli_rows(n: int, offset: int = 0) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"premise": [f"p{i}" for i in range(offset, offset + n)], "hypothesis": [f"h{i}" for i in range(n)],
         "label": [i % 3 for i in range(n)]}, features=FEATURES["xnli"])


def test_layout_round_trip(tmp_path):
    root = tmp_path / "tasks"
    layout.write_split(_nli_rows(5), root, "xnli", "l0", "train")
    layout.write_split(_nli_rows(3, 10), root, "xnli", "l0", "validation")
    layout.write_split(_nli_rows(4, 20), root, "xnli", "l1", "validation")
    assert source_kind("xnli", root) == "layout"
    every = load_task_configs("xnli", root)
    assert {c: {s: len(ds) for s, ds in dd.items()} for c, dd in every.items()} == {
        "l0": {"train": 5, "validation": 3}, "l1": {"validation": 4}}
    assert every["l0"]["validation"]["premise"] == ["p10", "p11", "p12"]
    assert every["l1"]["validation"].features == FEATURES["xnli"]
    assert list(load_task("xnli", root, config="l0", split="validation")) == ["validation"]
    with pytest.raises(TaskSourceError, match=r"several configs here \(l0, l1\); pass config="):
        load_task("xnli", root)
    with pytest.raises(TaskSourceError, match=r"no config 'l2'; configs present: l0, l1"):
        load_task("xnli", root, config="l2")


@needs_realdata
def test_reader_output_round_trips_through_layout(tmp_path):
    rte = readers.read_glue_tsv("rte", REALDATA / "glue/RTE/dev.tsv")
    layout.write_split(rte, tmp_path, "rte", "default", "validation")
    back = load_task("glue/rte", tmp_path)["validation"]
    assert back.features == FEATURES["rte"]
    assert back.to_list() == rte.to_list()


# --------------------------------------------------------------------------- hub ids (offline here)


def test_hub_offline_fails_early_with_download_command():
    with pytest.raises(HubUnavailableError) as err:
        load_task("glue/rte", "nyu-mll/glue", revision="main")
    assert "minilm-repro tasks download glue/rte --hub-id nyu-mll/glue --revision main --out resources/tasks" in str(err.value)
    with pytest.raises(HubUnavailableError) as err:
        load_task("mlqa", "facebook/mlqa", config="de.de", revision="refs/convert/parquet")
    assert ("minilm-repro tasks download mlqa --hub-id facebook/mlqa --revision refs/convert/parquet "
            "--out resources/tasks --config de.de") in str(err.value)


def test_hub_needs_pinned_revision_and_mlqa_parquet_ref(tmp_path):
    with pytest.raises(TaskSourceError, match=r"needs a pinned revision"):
        load_task("squad_v2", "rajpurkar/squad_v2")
    with pytest.raises(TaskSourceError, match=r"loading-script dataset .* --revision refs/convert/parquet"):
        load_task("mlqa", "facebook/mlqa", config="de.de", revision="main")
    with pytest.raises(readers.TaskFormatError, match=r"unknown XNLI language code 'xx'"):
        load_task("xnli", "facebook/xnli", config="xx", revision="main")


def test_download_offline_names_the_whole_task(tmp_path):
    with pytest.raises(HubUnavailableError) as err:
        download_task("xnli", "facebook/xnli", "main", tmp_path)
    assert str(err.value).splitlines()[-2].strip() == (
        "minilm-repro tasks download xnli --hub-id facebook/xnli --revision main --out resources/tasks")
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- CLI


@needs_realdata
def test_cli_show_json(capsys):
    rc, out, _ = _cli(["tasks", "show", "xnli", "--source", str(REALDATA / "xnli/de"), "--json"], capsys)
    assert rc == 0
    shown = json.loads(out)
    assert shown == {"task": "xnli", "source": str(REALDATA / "xnli/de"), "splits": {"validation": 250, "test": 5010},
                     "features": FEATURES["xnli"].to_dict(), "languages": {"de": 5260}}
    rc, out, _ = _cli(["tasks", "show", "squad_v2", "--source", str(REALDATA / "squad2/cs224n-dev-v2.0.json"), "--json"], capsys)
    shown = json.loads(out)
    assert (shown["splits"], shown["answerable"], shown["unanswerable"]) == ({"validation": 6078}, 2910, 3168)
    rc, out, _ = _cli(["tasks", "show", "mlqa", "--source", str(REALDATA / "mlqa"), "--json"], capsys)
    assert json.loads(out)["languages"] == {"de.de": 512}


@needs_realdata
def test_cli_show_text_and_errors(capsys):
    rc, out, _ = _cli(["tasks", "show", "glue/qnli", "--source", str(REALDATA / "glue/QNLI")], capsys)
    assert rc == 0
    assert "split validation: 5463 rows" in out and "label: ClassLabel(entailment, not_entailment)" in out
    rc, out, err = _cli(["tasks", "show", "glue/qnli", "--source", str(REALDATA / "glue/RTE/dev.tsv")], capsys)
    assert rc == 2 and out == ""
    assert "dev.tsv, line 1: the header lacks column(s) ['question', 'sentence']" in err
    rc, _, err = _cli(["tasks", "show", "glue/wnli", "--source", "x"], capsys)
    assert rc == 2 and "unknown task 'glue/wnli'" in err


def test_cli_download_requires_pinned_source(capsys):
    with pytest.raises(SystemExit):
        _cli(["tasks", "download", "glue/rte", "--hub-id", "nyu-mll/glue", "--out", "x"], capsys)
    assert "--revision" in capsys.readouterr().err


def test_cli_offline_subprocess(tmp_path):
    """The real process, HF_HUB_OFFLINE=1 in its environment: exit status 2 and the download command on stderr."""
    script = ("import argparse, sys\nfrom minilm_repro.data.cli import register\n"
              "p = argparse.ArgumentParser(prog='minilm-repro')\nregister(p.add_subparsers(dest='command', required=True))\n"
              "a = p.parse_args(sys.argv[1:])\nsys.exit(a.func(a))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", script, "tasks", "show", "squad_v2", "--source", "rajpurkar/squad_v2",
                           "--revision", "main", "--json"], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "minilm-repro tasks download squad_v2 --hub-id rajpurkar/squad_v2 --revision main --out resources/tasks" in proc.stderr


# --------------------------------------------------------------------------- download (hub call replaced)


def test_download_writes_the_canonical_layout(tmp_path, monkeypatch):
    """Everything but the network: the exact load_dataset call, column selection, cast, and the layout written."""
    calls = []
    hub_rte = datasets.Dataset.from_dict({"sentence1": ["A."], "sentence2": ["B."], "label": [1], "idx": [0],
                                          "extra": ["hub-only column"]})

    def fake_load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        return datasets.DatasetDict({"train": hub_rte, "validation": hub_rte, "test": hub_rte})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    written = download_task("glue/rte", "nyu-mll/glue", "main", tmp_path)
    assert calls == [(("nyu-mll/glue", "rte"), {"revision": "main", "split": None})]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "rte/default/test.parquet", "rte/default/train.parquet", "rte/default/validation.parquet"]
    back = load_task("glue/rte", tmp_path)
    assert back["validation"].features == FEATURES["rte"]
    assert back["validation"][0] == {"sentence1": "A.", "sentence2": "B.", "label": 1, "idx": 0}


@needs_realdata
def test_download_mlqa_reads_the_parquet_conversion(tmp_path, monkeypatch):
    calls = []
    mlqa = readers.read_file("mlqa", REALDATA / "mlqa/dev-context-de-question-de.json")["de.de"]

    def fake_load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        return datasets.DatasetDict({"validation": mlqa, "test": mlqa.select(range(3))})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    download_task("mlqa", "facebook/mlqa", "refs/convert/parquet", tmp_path, configs=["mlqa.de.de"])
    assert calls == [(("facebook/mlqa",), {"revision": "refs/convert/parquet", "data_files": {
        "validation": "mlqa.de.de/validation/*.parquet", "test": "mlqa.de.de/test/*.parquet"}})]
    back = load_task("mlqa", tmp_path, config="de.de")
    assert {s: len(ds) for s, ds in back.items()} == {"validation": 512, "test": 3}
    with pytest.raises(TaskSourceError, match=r"has split 'train', not one of task 'mlqa'"):
        monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.DatasetDict({"train": mlqa}))
        download_task("mlqa", "facebook/mlqa", "refs/convert/parquet", tmp_path / "x", configs=["de.de"])
