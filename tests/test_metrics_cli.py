"""``evaluate squad_v2 | squad | mlqa`` on the real SQuAD 2.0 and MLQA dev slices in shared/realdata.

Expected values are derived here from plain counts over the JSON files, not from the metric code.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from minilm_repro.metrics.cli import register

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata"
SQUAD2 = sorted((REAL / "squad2").glob("*.json"))
MLQA_DE = REAL / "mlqa" / "dev-context-de-question-de.json"
WRONG = "zzqx"  # a token that occurs in no gold answer

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"shared real data folder {REAL} is absent")


def _qas(path: Path) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [qa for art in data for para in art["paragraphs"] for qa in para["qas"]]


def _run(capsys, tmp_path, argv: list[str], preds: dict, na: dict | None = None) -> dict:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    pred_file = tmp_path / "preds.json"
    pred_file.write_text(json.dumps(preds))
    argv = ["evaluate", argv[0], argv[1], str(pred_file), *argv[2:]]
    if na is not None:
        (tmp_path / "na.json").write_text(json.dumps(na))
        argv += ["--na-prob-file", str(tmp_path / "na.json")]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)


def _gold(qa) -> str:
    return qa["answers"][0]["text"] if qa["answers"] else ""


@pytest.mark.parametrize("path", SQUAD2, ids=lambda p: p.name)
def test_squad_v2_gold_and_empty(path, capsys, tmp_path):
    qas = _qas(path)
    total, has = len(qas), sum(1 for qa in qas if qa["answers"])
    out = _run(capsys, tmp_path, ["squad_v2", str(path)], {qa["id"]: _gold(qa) for qa in qas})
    assert out == {"exact": 100.0, "f1": 100.0, "total": total, "HasAns_exact": 100.0, "HasAns_f1": 100.0,
                   "HasAns_total": has, "NoAns_exact": 100.0, "NoAns_f1": 100.0, "NoAns_total": total - has}
    out = _run(capsys, tmp_path, ["squad_v2", str(path)], {qa["id"]: "" for qa in qas})
    assert out["exact"] == out["f1"] == pytest.approx(100 * (total - has) / total)
    assert (out["HasAns_exact"], out["HasAns_f1"], out["NoAns_exact"]) == (0.0, 0.0, 100.0)


@pytest.mark.parametrize("path", SQUAD2, ids=lambda p: p.name)
def test_squad_v2_edits(path, capsys, tmp_path):
    qas = _qas(path)
    total = len(qas)
    answerable = [qa for qa in qas if qa["answers"]]
    has = len(answerable)
    # every other answerable question gets a token no gold has: EM = F1 = 0 there, 1 elsewhere
    wrong = {qa["id"] for qa in answerable[::2]}
    preds = {qa["id"]: WRONG if qa["id"] in wrong else _gold(qa) for qa in qas}
    out = _run(capsys, tmp_path, ["squad_v2", str(path)], preds)
    assert out["exact"] == out["f1"] == pytest.approx(100 * (total - len(wrong)) / total)
    assert out["HasAns_f1"] == pytest.approx(100 * (has - len(wrong)) / has) and out["NoAns_exact"] == 100.0
    # one extra token after an n-token gold (all golds equal, plain words, no articles):
    # P = n/(n+1), R = 1, F1 = 2n/(2n+1); EM 0
    plain = re.compile(r"^[A-Za-z0-9]+( [A-Za-z0-9]+)*$")
    edited = {qa["id"]: len(_gold(qa).split()) for qa in answerable
              if len({a["text"] for a in qa["answers"]}) == 1 and plain.match(_gold(qa))
              and not {"a", "an", "the"} & set(_gold(qa).lower().split())}
    assert len(edited) > 50
    preds = {qa["id"]: f"{_gold(qa)} {WRONG}" if qa["id"] in edited else _gold(qa) for qa in qas}
    out = _run(capsys, tmp_path, ["squad_v2", str(path)], preds)
    assert out["exact"] == pytest.approx(100 * (total - len(edited)) / total)
    f1_sum = sum(2 * n / (2 * n + 1) for n in edited.values()) + total - len(edited)
    assert out["f1"] == pytest.approx(100 * f1_sum / total)


@pytest.mark.parametrize("path", SQUAD2, ids=lambda p: p.name)
def test_squad_v2_na_probs(path, capsys, tmp_path):
    qas = _qas(path)
    total, has = len(qas), sum(1 for qa in qas if qa["answers"])
    # a non-empty (wrong) answer on every unanswerable question, but na_prob 1 there (0 elsewhere)
    preds = {qa["id"]: _gold(qa) or WRONG for qa in qas}
    na = {qa["id"]: 0.0 if qa["answers"] else 1.0 for qa in qas}
    out = _run(capsys, tmp_path, ["squad_v2", str(path)], preds, na)
    assert out["exact"] == pytest.approx(100 * has / total) and out["NoAns_f1"] == 0.0
    # threshold walk: start at #NoAns, every answerable (na 0) adds 1 -> total at threshold 0.0;
    # every unanswerable (na 1) with a non-empty answer then subtracts 1: best stays 100 at 0.0
    assert (out["best_exact"], out["best_exact_thresh"], out["best_f1"], out["best_f1_thresh"]) == (100.0, 0.0, 100.0, 0.0)
    out = _run(capsys, tmp_path, ["squad_v2", str(path), "--na-prob-thresh", "0.5"], preds, na)
    assert (out["exact"], out["f1"], out["NoAns_exact"]) == (100.0, 100.0, 100.0)


def test_squad_v2_out_file(capsys, tmp_path):
    path = SQUAD2[0]
    dest = tmp_path / "eval.json"
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    (tmp_path / "p.json").write_text(json.dumps({qa["id"]: "" for qa in _qas(path)}))
    args = parser.parse_args(["evaluate", "squad_v2", str(path), str(tmp_path / "p.json"), "--out-file", str(dest)])
    args.func(args)
    assert capsys.readouterr().out == ""
    assert json.loads(dest.read_text())["NoAns_exact"] == 100.0


def test_mlqa_de(capsys, tmp_path):
    qas = _qas(MLQA_DE)
    assert len(qas) == 512
    gold = {qa["id"]: _gold(qa) for qa in qas}
    assert _run(capsys, tmp_path, ["mlqa", str(MLQA_DE), "--lang", "de"], gold) == {"exact_match": 100.0, "f1": 100.0}
    # no German gold answer is made of articles/punctuation only, so "" matches none
    empty = {k: "" for k in gold}
    assert _run(capsys, tmp_path, ["mlqa", str(MLQA_DE), "--lang", "de"], empty) == {"exact_match": 0.0, "f1": 0.0}
    # a leading German article is normalised away
    det = {k: f"die {v}" for k, v in gold.items()}
    assert _run(capsys, tmp_path, ["mlqa", str(MLQA_DE), "--lang", "de"], det) == {"exact_match": 100.0, "f1": 100.0}
    # 256 of 512 wrong
    half = {qa["id"]: WRONG if i % 2 == 0 else _gold(qa) for i, qa in enumerate(qas)}
    assert _run(capsys, tmp_path, ["mlqa", str(MLQA_DE), "--lang", "de"], half) == {"exact_match": 50.0, "f1": 50.0}


def test_squad_v1_on_mlqa_file_notes_version(capsys, tmp_path):
    gold = {qa["id"]: _gold(qa) for qa in _qas(MLQA_DE)}
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    (tmp_path / "p.json").write_text(json.dumps(gold))
    args = parser.parse_args(["evaluate", "squad", str(MLQA_DE), str(tmp_path / "p.json")])
    args.func(args)
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"exact_match": 100.0, "f1": 100.0}
    assert "expects v-1.1, but got dataset with v-1.0" in captured.err


def test_missing_prediction_is_an_error(capsys, tmp_path):
    qas = _qas(MLQA_DE)
    with pytest.raises(ValueError, match="lack 1 of 512"):
        _run(capsys, tmp_path, ["mlqa", str(MLQA_DE), "--lang", "de"], {qa["id"]: "x" for qa in qas[1:]})
