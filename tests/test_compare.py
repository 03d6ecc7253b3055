"""``minilm-repro compare``'s inputs and config (minilm_repro.plan.compare), checked before any job runs, and the
Hub-format results it writes (model cards, model-index) parsed back by huggingface_hub."""

import pytest
import yaml
from conftest import SHARED

from minilm_repro.plan import compare as plan

REAL_BERT = SHARED / "models" / "all-MiniLM-L6-v2"
REALDATA = SHARED / "realdata"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny BERT with the real tokenizer (vocabulary 30,522) and one whose vocabulary is too small for it."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    root = tmp_path_factory.mktemp("ckpt")
    tok = AutoTokenizer.from_pretrained(REAL_BERT)
    for name, vocab in (("tiny", tok.vocab_size), ("small-vocab", 1000)):
        torch.manual_seed(0)
        BertModel(BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64, max_position_embeddings=128)).save_pretrained(root / name)
        tok.save_pretrained(root / name)
    return root


def test_checkpoints_are_directories_or_hub_ids_with_unique_names(tiny):
    got = plan.parse_checkpoints([str(REAL_BERT), f"mine={tiny / 'tiny'}", "FacebookAI/xlm-roberta-base@e73636d",
                                  "microsoft/Multilingual-MiniLM-L12-H384"],
                                 ["Multilingual-MiniLM-L12-H384=FacebookAI/xlm-roberta-base@e73636d"])
    assert [c.name for c in got] == ["all-MiniLM-L6-v2", "mine", "xlm-roberta-base", "Multilingual-MiniLM-L12-H384"]
    assert got[1].external() == {"path": str((tiny / "tiny").resolve())}
    assert got[2].external() == {"hub": {"id": "FacebookAI/xlm-roberta-base", "revision": "e73636d"}}
    assert got[3].external() == {"hub": {"id": "microsoft/Multilingual-MiniLM-L12-H384", "revision": "main"},
                                 "tokenizer": {"hub": {"id": "FacebookAI/xlm-roberta-base", "revision": "e73636d"}}}
    with pytest.raises(plan.CompareError, match=r"not a model directory \(no config.json\)"):
        plan.parse_checkpoints([str(REALDATA)])
    with pytest.raises(plan.CompareError, match=r"neither an existing directory nor a hub id"):
        plan.parse_checkpoints(["no/such/dir/here"])
    with pytest.raises(plan.CompareError, match=r"two checkpoints are named 'tiny'"):
        plan.parse_checkpoints([str(tiny / "tiny"), f"tiny={REAL_BERT}"])
    with pytest.raises(plan.CompareError, match=r"--tokenizer x=y: give NAME=SOURCE with NAME one of"):
        plan.parse_checkpoints([str(REAL_BERT)], ["x=y"])


def test_unknown_task_or_language_and_a_language_a_task_lacks(tiny):
    with pytest.raises(plan.CompareError, match=r"unknown task 'mnli-mm'"):
        plan.check_tasks(["rte", "mnli-mm"], None)
    with pytest.raises(plan.CompareError, match=r"unknown language 'xx' for xnli"):
        plan.check_tasks(["xnli"], ["xx"])
    with pytest.raises(plan.CompareError, match=r"mlqa has no language 'fr'"):
        plan.check_tasks(["xnli", "mlqa"], ["fr"])
    with pytest.raises(plan.CompareError, match=r"English-only tasks"):
        plan.check_tasks(["rte"], ["de"])


def test_a_tokenizer_that_does_not_fit_and_a_hub_id_offline_fail_before_any_job(tiny):
    with pytest.raises(plan.CompareError, match=r"small-vocab: tokenizer has 30522 tokens but the model's vocabulary is "
                                                r"1000.*--tokenizer small-vocab="):
        plan.check_sources(plan.parse_checkpoints([str(tiny / "small-vocab")]), offline=True)
    hub = plan.parse_checkpoints(["FacebookAI/xlm-roberta-base@e73636d"])
    with pytest.raises(plan.CompareError, match=r"offline; download it first \(huggingface-cli download "
                                                r"FacebookAI/xlm-roberta-base --revision e73636d"):
        plan.check_sources(hub, offline=True)
    plan.check_sources(hub, offline=True, dry_run=True)  # a dry run lists the download jobs instead


def test_quick_and_paper_protocols_and_local_data(tiny):
    ckpts = plan.parse_checkpoints([str(REAL_BERT), str(tiny / "tiny")])
    quick = plan.compare_config(ckpts, ["rte", "stsb"], protocol="quick", data_dir=REALDATA)
    assert quick["profile"] == "compare-quick"
    rte = quick["finetune"]["tasks"]["rte"]
    assert rte["lr"] == [4.0e-5] and rte["epochs"] == [2] and rte["max_train_examples"] == 1000 and rte["seeds"] == [1]
    assert quick["task_sources"]["rte"] == {"path": str((REALDATA / "glue_data" / "RTE").resolve())}  # has train.tsv
    assert quick["tracks"]["cmp"]["finetune"]["models"] == ["all-MiniLM-L6-v2", "tiny"]
    paper = plan.compare_config(ckpts, ["rte"], protocol="paper", seeds=[1, 2])
    assert paper["finetune"]["tasks"]["rte"]["lr"] == [2.0e-5, 3.0e-5, 4.0e-5, 5.0e-5]  # paper-mono.yaml's grid
    assert paper["task_sources"]["rte"]["hub_id"] == "nyu-mll/glue" and paper["finetune"]["tasks"]["rte"]["seeds"] == [1, 2]
    multi = plan.compare_config(ckpts[:1], ["xnli", "mlqa"], languages=["de"], data_dir=REALDATA)
    assert multi["languages"] == ["de"] and multi["train_language"] == "de"
    assert multi["task_sources"]["mlqa"]["split_dev"] == plan.SPLIT_DEV  # a dev set only: split by document
    assert multi["finetune"]["tasks"]["mlqa"]["train_task"] == "mlqa"  # and trained on its own split
    from minilm_repro.plan.planner import Plan

    jobs = Plan(multi).jobs  # the config plans: a checkpoint-only track
    assert not [j for j in jobs if j.startswith(("distill", "pretrain", "prepare_corpus"))]
    assert {"finetune/cmp/all-MiniLM-L6-v2/mlqa/lr5e-05_ep2/1", "import_mlqa", "import_xnli"} <= set(jobs)


def test_model_index_and_model_cards_parse_back(tmp_path, tiny):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results
    from transformers import AutoModel, AutoTokenizer

    from minilm_repro.jobs.model_card import model_index_yaml
    from minilm_repro.jobs.model_io import save_model_dir

    block = yaml.safe_load(model_index_yaml("tiny", [
        {"task": "rte", "split": "validation", "language": None, "metric": "accuracy", "value": 61.234},
        {"task": "xnli", "split": "test", "language": "de", "metric": "accuracy", "value": 55.0}]))
    name, results = model_index_to_eval_results(block["model-index"])
    assert name == "tiny" and [(r.dataset_type, r.dataset_config, r.metric_value) for r in results] == \
        [("nyu-mll/glue", "rte", 61.23), ("facebook/xnli", "de", 55.0)]
    model, tok = AutoModel.from_pretrained(tiny / "tiny"), AutoTokenizer.from_pretrained(tiny / "tiny")
    save_model_dir(model, tok, tmp_path / "student", {"name": "student", "method": "minilm", "teacher": "teacher",
                                                      "base_model": "nreimers/MiniLM-L6-H384-uncased"})
    card = ModelCard.load(tmp_path / "student" / "README.md")
    assert card.data.library_name == "transformers" and card.data.base_model == "nreimers/MiniLM-L6-H384-uncased"
    assert "distillation" in card.data.tags
    assert AutoModel.from_pretrained(tmp_path / "student").config.hidden_size == 32  # the directory still loads
