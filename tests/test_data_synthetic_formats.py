"""The generated benchmark has the features the real readers produce, and survives the distributed formats.

Every generated split is written out as its real dataset is distributed (GLUE TSV, SQuAD/MLQA
JSON, XNLI TSV), read back with the readers used for the real files, and must come back with
the same features and the same rows. For the tasks with real samples in ``shared/realdata``,
the features are also compared with what the readers produce from the real files.
"""

import json
from pathlib import Path

import pytest

from minilm_repro.data import layout, readers
from minilm_repro.data.features import GLUE_TASKS, TEXT_COLUMNS
from minilm_repro.data.readers import COLA_HEADERLESS, GLUE_COLUMNS
from minilm_repro.data.synthetic import SyntheticConfig, generate_benchmark

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"shared real-data samples not found at {REALDATA}")
TINY = dict(seed=3, languages=4, mono_documents=20, multi_documents=20, scale=0.03)


@pytest.fixture(scope="module")
def tasks_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    generate_benchmark(out, SyntheticConfig.from_dict(TINY))
    return out / "tasks"


def _glue_tsv(task: str, ds, path: Path) -> Path:
    """A GLUE-style TSV: header ``index <texts> <label column>``; unlabelled splits have no label column (test files)."""
    cols = GLUE_COLUMNS[task]
    labelled = any(x != -1 for x in ds["label"])
    names = ds.features["label"].names if task != "stsb" else None
    lines = []
    if task == "cola" and labelled:  # CoLA train/dev files have no header
        lines = ["\t".join(["gen", str(r["label"]), "", r["sentence"]]) for r in ds]
        assert len(COLA_HEADERLESS) == len(lines[0].split("\t"))
    else:
        lines.append("\t".join(["index", *cols.texts] + ([cols.label] if labelled else [])))
        for i, r in enumerate(ds):
            label = ([repr(r["label"]) if task == "stsb" else names[r["label"]]] if labelled else [])
            lines.append("\t".join([str(i), *(r[c] for c in TEXT_COLUMNS[task])] + label))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _squad_json(ds, path: Path, titles: bool) -> Path:
    data = [{"title": r["title"] if titles else "", "paragraphs": [{"context": r["context"], "qas": [{
        "id": r["id"], "question": r["question"], "is_impossible": not r["answers"]["text"],
        "answers": [{"text": t, "answer_start": s} for t, s in zip(r["answers"]["text"], r["answers"]["answer_start"])],
    }]}]} for r in ds]
    path.write_text(json.dumps({"version": "v2.0", "data": data}, ensure_ascii=False), encoding="utf-8")
    return path


def _xnli_tsv(ds, path: Path) -> Path:
    names = ds.features["label"].names
    rows = ["premise\thypo\tlabel"] + [f"{r['premise']}\t{r['hypothesis']}\t{names[r['label']]}" for r in ds]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _read_back(task: str, config: str, split: str, ds, tmp: Path):
    if task in GLUE_TASKS:
        return readers.read_glue_tsv(task, _glue_tsv(task, ds, tmp / f"{split}.tsv"))
    if task in ("squad", "squad_v2", "mlqa"):
        return readers.read_squad_json(task, _squad_json(ds, tmp / f"{split}.json", titles=task != "mlqa"))
    # XNLI language codes are the real ones; a generated language is read as if it were German
    return readers.read_xnli_tsv(_xnli_tsv(ds, tmp / f"{split}.tsv"), "de")["de"]


@pytest.mark.parametrize("task", list(GLUE_TASKS) + ["squad_v2", "squad", "xnli", "mlqa"])
def test_generated_splits_round_trip_through_the_distributed_format(task, tasks_root, tmp_path):
    checked = 0
    for config in layout.configs(tasks_root, task)[:2]:
        for path in sorted((tasks_root / task / config).glob("*.parquet")):
            ds = layout.load_split(tasks_root, task, config, path.stem)
            back = _read_back(task, config, path.stem, ds, tmp_path)
            assert back.features == ds.features, (task, config, path.stem)
            assert back.to_list() == ds.to_list(), (task, config, path.stem)
            checked += 1
    assert checked >= 2


REAL_FILES = {
    "qnli": "glue/QNLI/dev.tsv", "rte": "glue/RTE/dev.tsv", "mrpc": "glue/MRPC/dev.msr-untokenized.tsv",
    "sst2": "glue/SST-2/dev.tsv", "stsb": "glue/STS-B/dev.tsv", "squad_v2": "squad2/dev-v2.0.official-slice-Normans-Rhine.json",
    "xnli": "xnli/de/dev-250.tsv", "mlqa": "mlqa/dev-context-de-question-de.json",
}


@needs_realdata
@pytest.mark.parametrize("task", sorted(REAL_FILES))
def test_generated_features_equal_the_real_files_features(task, tasks_root):
    real = next(iter(readers.read_file(task, REALDATA / REAL_FILES[task]).values()))
    config = layout.configs(tasks_root, task)[0]
    generated = layout.load_split(tasks_root, task, config, "validation")
    assert generated.features == real.features
    assert generated.data.schema.remove_metadata() == real.data.schema.remove_metadata()
