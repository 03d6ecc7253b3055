"""Readers of the distributed task formats: real-data counts, every layout, and the bad-input errors."""

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from minilm_repro.data import readers
from minilm_repro.data.features import FEATURES
from minilm_repro.data.readers import TaskFormatError

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"shared real-data samples not found at {REALDATA}")


def _label_counts(ds) -> dict[str, int]:
    names = ds.features["label"].names
    return {names[k]: v for k, v in Counter(ds["label"]).items()}


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


# --------------------------------------------------------------------------- real data (MANIFEST.md counts)


@needs_realdata
@pytest.mark.parametrize(
    "task, rel, counts",
    [
        ("qnli", "glue/QNLI/dev.tsv", {"entailment": 2702, "not_entailment": 2761}),
        ("rte", "glue/RTE/dev.tsv", {"entailment": 146, "not_entailment": 131}),
        ("mrpc", "glue/MRPC/dev.msr-untokenized.tsv", {"equivalent": 279, "not_equivalent": 129}),
        ("sst2", "glue/SST-2/dev.tsv", {"positive": 444, "negative": 428}),
        ("sst2", "glue/SST-2/train.tsv", {"positive": 37569, "negative": 29780}),
    ],
)
def test_glue_real_counts(task, rel, counts):
    ds = readers.read_glue_tsv(task, REALDATA / rel)
    assert ds.features == FEATURES[task]
    assert _label_counts(ds) == counts
    assert ds["idx"] == list(range(sum(counts.values())))


@needs_realdata
def test_glue_texts_kept_verbatim():
    mrpc = readers.read_glue_tsv("mrpc", REALDATA / "glue/MRPC/dev.msr-untokenized.tsv")
    # an unbalanced quote opens the first pair's second sentence: QUOTE_NONE keeps it as text
    assert mrpc[0]["sentence2"] == '"The foodservice pie business does not fit our long-term growth strategy.'
    assert mrpc[0]["label"] == 1
    sst = readers.read_glue_tsv("sst2", REALDATA / "glue/SST-2/dev.tsv")
    assert sst[0] == {"sentence": "it 's a charming and often affecting journey . ", "label": 1, "idx": 0}


@needs_realdata
def test_stsb_real_scores():
    ds = readers.read_glue_tsv("stsb", REALDATA / "glue/STS-B/dev.tsv")
    assert ds.features == FEATURES["stsb"]
    assert len(ds) == 1500
    assert ds[0]["label"] == 5.0 and ds[1]["label"] == 4.75
    assert min(ds["label"]) == 0.0 and max(ds["label"]) == 5.0


@needs_realdata
def test_sst2_train_is_fast():
    start = time.perf_counter()
    ds = readers.read_glue_tsv("sst2", REALDATA / "glue/SST-2/train.tsv")
    elapsed = time.perf_counter() - start
    assert len(ds) == 67349
    assert elapsed < 3.0, f"reading 3.7 MB of SST-2 took {elapsed:.2f} s"


@needs_realdata
def test_xnli_german_real_counts():
    test = readers.read_xnli_tsv(REALDATA / "xnli/de/test.tsv")
    assert list(test) == ["de"]
    assert test["de"].features == FEATURES["xnli"]
    assert _label_counts(test["de"]) == {"contradiction": 1670, "entailment": 1670, "neutral": 1670}
    dev = readers.read_xnli_tsv(REALDATA / "xnli/de/dev-250.tsv", "de")
    assert _label_counts(dev["de"]) == {"contradiction": 98, "entailment": 82, "neutral": 70}


@needs_realdata
@pytest.mark.parametrize(
    "rel, answerable, unanswerable",
    [("squad2/dev-v2.0.official-slice-Normans-Rhine.json", 386, 320), ("squad2/cs224n-dev-v2.0.json", 2910, 3168)],
)
def test_squad_v2_real_counts(rel, answerable, unanswerable):
    ds = readers.read_squad_json("squad_v2", REALDATA / rel)
    assert ds.features == FEATURES["squad_v2"]
    has_answer = [bool(a["text"]) for a in ds["answers"]]
    assert (sum(has_answer), len(ds) - sum(has_answer)) == (answerable, unanswerable)
    first = ds[0]
    assert first["title"] == "Normans" and first["answers"]["text"][0] == "France"
    assert first["context"][159:165] == "France"


@needs_realdata
def test_mlqa_real_counts():
    out = readers.read_file("mlqa", REALDATA / "mlqa/dev-context-de-question-de.json")
    assert list(out) == ["de.de"]
    ds = out["de.de"]
    assert ds.features == FEATURES["mlqa"]
    assert len(ds) == 512
    assert all(len(i) == 40 for i in ds["id"])
    assert readers.mlqa_file_info(REALDATA / "mlqa/dev-context-de-question-de.json") == ("validation", "de.de")


# --------------------------------------------------------------------------- layouts not in the real samples


def test_cola_headerless_and_test_header(tmp_path):
    dev = _write(tmp_path / "dev.tsv", 'gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n'
                                       'gj04\t0\t*\tThe more "books" I ask to whom he will give, the more he reads.\n')
    ds = readers.read_glue_tsv("cola", dev)
    assert ds.features == FEATURES["cola"]
    assert ds["label"] == [1, 0] and ds["idx"] == [0, 1]
    assert ds[1]["sentence"].startswith('The more "books"')
    test = _write(tmp_path / "test.tsv", "index\tsentence\n0\tBill whistled past the house.\n")
    assert readers.read_glue_tsv("cola", test)["label"] == [-1]


def test_qqp_mnli_and_unlabelled_test_files(tmp_path):
    qqp = _write(tmp_path / "qqp.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                                       "7\t15\t16\tHow do I read?\tHow can I read?\t1\n9\t1\t2\tWhy?\tWhat?\t0\n")
    ds = readers.read_glue_tsv("qqp", qqp)
    assert ds.features == FEATURES["qqp"] and ds["label"] == [1, 0] and ds["idx"] == [0, 1]
    cols = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
            "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "label2", "label3",
            "label4", "label5", "gold_label"]
    row = ["0", "63735", "63735n", "slate", "(x)", "(y)", "(X)", "(Y)", "The new rights are nice enough",
           "Everyone really likes the newest benefits", "neutral", "entailment", "neutral", "neutral", "neutral", "neutral"]
    mnli = _write(tmp_path / "dev_matched.tsv", "\t".join(cols) + "\n" + "\t".join(row) + "\n")
    ds = readers.read_glue_tsv("mnli", mnli)
    assert ds.features == FEATURES["mnli"]
    assert ds[0] == {"premise": row[8], "hypothesis": row[9], "label": 1, "idx": 0}
    mnli_test = _write(tmp_path / "test_matched.tsv", "\t".join(cols[:10]) + "\n" + "\t".join(row[:10]) + "\n")
    assert readers.read_glue_tsv("mnli", mnli_test)["label"] == [-1]
    stsb_test = _write(tmp_path / "sts_test.tsv", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\n"
                                                  "0\tmain-news\theadlines\t2016\t0\tnone\tnone\tA b.\tC d.\n")
    assert readers.read_glue_tsv("stsb", stsb_test)["label"] == [-1.0]


def test_mrpc_with_bom_and_numeric_labels(tmp_path):
    path = _write(tmp_path / "dev.tsv", "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\tA.\tB.\n1\t3\t4\tC.\tC!\n")
    ds = readers.read_glue_tsv("mrpc", path)
    assert ds["label"] == [0, 1] and ds["sentence1"] == ["A.", "C."]


def test_xnli_multilanguage_layout(tmp_path):
    header = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre", "label1", "label2",
              "label3", "label4", "label5", "sentence1_tokenized", "sentence2_tokenized", "match"]

    def row(lang, label, p, h):
        return [lang, label, "", "", "", "", p, h, "1", "1", "fiction", label, label, label, label, label, p, h, "True"]

    rows = [row("en", "neutral", "He came.", "He ran."), row("de", "entailment", "Er kam.", "Er war da."),
            row("en", "contradiction", "It rained.", "It was dry."), row("fr", "neutral", "Il vint.", "Il courut.")]
    path = _write(tmp_path / "xnli.dev.tsv", "\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    every = readers.read_xnli_tsv(path)
    assert sorted(every) == ["de", "en", "fr"]
    en = every["en"]
    assert en.features == FEATURES["xnli"]
    assert en["premise"] == ["He came.", "It rained."] and en["label"] == [1, 2]
    only_de = readers.read_xnli_tsv(path, "de")
    assert list(only_de) == ["de"] and only_de["de"]["hypothesis"] == ["Er war da."]
    with pytest.raises(TaskFormatError, match=r"no rows for language 'ar'.*\['de', 'en', 'fr'\]"):
        readers.read_xnli_tsv(path, "ar")


def test_xnli_mt_train_header_and_alias(tmp_path):
    path = _write(tmp_path / "multinli.train.de.tsv", 'premise\thypo\tlabel\nEin "Satz".\tZwei.\tcontradictory\nA.\tB.\tentailment\n')
    out = readers.read_xnli_tsv(path)
    assert list(out) == ["de"]
    assert out["de"]["label"] == [2, 0] and out["de"]["premise"][0] == 'Ein "Satz".'
    assert readers.split_from_filename("xnli", path) == "train"


def test_squad_v1_json(tmp_path):
    doc = {"version": "1.1", "data": [{"title": "T", "paragraphs": [
        {"context": "Alan Turing was born in London.", "qas": [
            {"id": "q1", "question": "Where?", "answers": [{"text": "London", "answer_start": 24}]}]}]}]}
    path = _write(tmp_path / "dev-v1.1.json", json.dumps(doc))
    ds = readers.read_squad_json("squad", path)
    assert ds.features == FEATURES["squad"]
    assert ds[0] == {"id": "q1", "title": "T", "context": "Alan Turing was born in London.", "question": "Where?",
                     "answers": {"text": ["London"], "answer_start": [24]}}


def test_split_names_from_files():
    assert readers.split_from_filename("mrpc", "dev.msr-untokenized.tsv") == "validation"
    assert readers.split_from_filename("mrpc", "dev_ids.tsv") is None
    assert readers.split_from_filename("mnli", "dev_mismatched.tsv") == "validation_mismatched"
    assert readers.split_from_filename("squad_v2", "cs224n-dev-v2.0.json") == "validation"
    assert readers.split_from_filename("squad", "train-v1.1.json") == "train"
    assert readers.split_from_filename("xnli", "xnli.test.tsv") == "test"
    assert readers.xnli_language_from_path("XNLI/de/dev-250.tsv") == "de"
    assert readers.xnli_language_from_path("XNLI/xnli.test.tsv") is None


# --------------------------------------------------------------------------- bad input


def test_empty_files(tmp_path):
    empty_tsv = _write(tmp_path / "dev.tsv", "")
    with pytest.raises(TaskFormatError, match=r"dev\.tsv: the file is empty"):
        readers.read_glue_tsv("rte", empty_tsv)
    header_only = _write(tmp_path / "h.tsv", "index\tsentence1\tsentence2\tlabel\n")
    with pytest.raises(TaskFormatError, match=r"h\.tsv: no data rows"):
        readers.read_glue_tsv("rte", header_only)
    empty_json = _write(tmp_path / "dev-v2.0.json", "")
    with pytest.raises(TaskFormatError, match=r"dev-v2\.0\.json: the file is empty"):
        readers.read_squad_json("squad_v2", empty_json)
    with pytest.raises(TaskFormatError, match=r"no questions"):
        readers.read_squad_json("squad_v2", _write(tmp_path / "e.json", '{"version": "v2.0", "data": []}'))


def test_tsv_missing_column_in_header(tmp_path):
    path = _write(tmp_path / "dev.tsv", "index\tquestion\tlabel\n0\tWhy?\tentailment\n")
    with pytest.raises(TaskFormatError, match=r"dev\.tsv, line 1: the header lacks column\(s\) \['sentence'\]"):
        readers.read_glue_tsv("qnli", path)


def test_tsv_row_missing_field_names_its_line(tmp_path):
    # the blank line 3 is skipped, and still counted in the line number reported
    text = "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n\n1\tC.\tnot_entailment\n"
    path = _write(tmp_path / "dev.tsv", text)
    with pytest.raises(TaskFormatError, match=r"dev\.tsv, line 4: expected 4 tab-separated fields .* found 3"):
        readers.read_glue_tsv("rte", path)


def test_bad_label_and_score_name_their_line(tmp_path):
    path = _write(tmp_path / "dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n1\tC.\tD.\tmaybe\n")
    with pytest.raises(TaskFormatError, match=r"dev\.tsv, line 3: label 'maybe' in column 'label'"):
        readers.read_glue_tsv("rte", path)
    sts = _write(tmp_path / "sts.tsv", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                                       "0\tg\tf\t2012\t0\tn\tn\tA.\tB.\t7.5\n")
    with pytest.raises(TaskFormatError, match=r"sts\.tsv, line 2: STS-B score '7\.5'"):
        readers.read_glue_tsv("stsb", sts)


def _squad_doc(start: int, qid: str = "56ddde6b9a695914005b9628", impossible: bool = False) -> dict:
    qa = {"id": qid, "question": "Where?", "answers": [{"text": "France", "answer_start": start}], "is_impossible": impossible}
    return {"version": "v2.0", "data": [{"title": "N", "paragraphs": [{"context": "Normandy is in France.", "qas": [qa]}]}]}


def test_squad_answer_start_mismatch_names_question(tmp_path):
    assert len(readers.read_squad_json("squad_v2", _write(tmp_path / "ok.json", json.dumps(_squad_doc(15))))) == 1
    path = _write(tmp_path / "bad.json", json.dumps(_squad_doc(14)))
    with pytest.raises(TaskFormatError, match=r"bad\.json: question id '56ddde6b9a695914005b9628': answer 'France' "
                                              r"does not match the context at answer_start 14"):
        readers.read_squad_json("squad_v2", path)


def test_squad_structure_errors(tmp_path):
    impossible = _write(tmp_path / "imp.json", json.dumps(_squad_doc(15, impossible=True)))
    with pytest.raises(TaskFormatError, match=r"marked is_impossible but has answers"):
        readers.read_squad_json("squad_v2", impossible)
    doc = _squad_doc(15)
    doc["data"][0]["paragraphs"][0]["qas"][0].update(answers=[], is_impossible=True)
    with pytest.raises(TaskFormatError, match=r"only SQuAD 2\.0 has; load this file as task squad_v2"):
        readers.read_squad_json("squad", _write(tmp_path / "v2.json", json.dumps(doc)))
    del doc["data"][0]["paragraphs"][0]["context"]
    with pytest.raises(TaskFormatError, match=r"data\[0\]\.paragraphs\[0\]: missing key 'context'"):
        readers.read_squad_json("squad_v2", _write(tmp_path / "noctx.json", json.dumps(doc)))
    with pytest.raises(TaskFormatError, match=r"trunc\.json, line 2: not valid JSON"):
        readers.read_squad_json("squad_v2", _write(tmp_path / "trunc.json", '{"data":\n [{"title": '))


def test_unknown_language_codes(tmp_path):
    simple = _write(tmp_path / "de" / "test.tsv", "A.\tB.\tneutral\n")
    with pytest.raises(TaskFormatError, match=r"unknown XNLI language code 'xx'; known codes: ar, bg, de"):
        readers.read_xnli_tsv(simple, "xx")
    with pytest.raises(TaskFormatError, match=r"cannot tell which XNLI language"):
        readers.read_xnli_tsv(_write(tmp_path / "plain.tsv", "A.\tB.\tneutral\n"))
    multi = _write(tmp_path / "xnli.test.tsv", "language\tgold_label\tsentence1\tsentence2\nen\tneutral\tA.\tB.\n"
                                               "xx\tneutral\tC.\tD.\n")
    with pytest.raises(TaskFormatError, match=r"xnli\.test\.tsv, line 3: unknown XNLI language code 'xx'"):
        readers.read_xnli_tsv(multi)
    mlqa = _write(tmp_path / "dev-context-xx-question-de.json", json.dumps(_squad_doc(15)))
    with pytest.raises(TaskFormatError, match=r"unknown MLQA language code 'xx'; known codes: en, es, de"):
        readers.read_file("mlqa", mlqa)
    with pytest.raises(TaskFormatError, match=r"unknown MLQA language code 'bg'"):
        readers.mlqa_config("mlqa.de.bg", where="--config")


def test_bad_xnli_and_mlqa_files_name_file_and_line_or_id(tmp_path):
    with pytest.raises(TaskFormatError, match=r"de/test\.tsv: the file is empty"):
        readers.read_xnli_tsv(_write(tmp_path / "de" / "test.tsv", ""))
    with pytest.raises(TaskFormatError, match=r"dev-context-de-question-de\.json: the file is empty"):
        readers.read_file("mlqa", _write(tmp_path / "dev-context-de-question-de.json", ""))
    no_hypothesis = _write(tmp_path / "xnli.dev.tsv", "language\tgold_label\tsentence1\nde\tneutral\tA.\n")
    with pytest.raises(TaskFormatError, match=r"xnli\.dev\.tsv, line 1: the header lacks column\(s\) \['sentence2'\]"):
        readers.read_xnli_tsv(no_hypothesis)
    bad_label = _write(tmp_path / "fr" / "dev.tsv", "A.\tB.\tneutral\nC.\tD.\tmaybe\n")
    with pytest.raises(TaskFormatError, match=r"fr/dev\.tsv, line 2: label 'maybe' in column 'label'"):
        readers.read_xnli_tsv(bad_label)
    doc = _squad_doc(3, qid="a" * 40)
    with pytest.raises(TaskFormatError, match=r"test-context-de-question-en\.json: question id 'a{40}': answer 'France' does not match the context "
                                              r"at answer_start 3 \(context there: 'mandy '\)"):
        readers.read_file("mlqa", _write(tmp_path / "test-context-de-question-en.json", json.dumps(doc)))
