"""Bad input and faults: each gives one clear line naming the fix, early, and leaves nothing taken for done.

One test per case. Each asserts the exact message (the exception text, or the line Snakemake
prints) and that no output exists afterwards that a rerun would take as finished. Grouped as:
workflow config, stage config and models, task and corpus files, checkpoints, tracking store,
outputs. The resume and rerun cases of the training stages are in test_resume_exact.py.
"""

import copy
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, job_argv, write_city_task, write_toy_corpus

from minilm_repro.config import (
    ConfigError,
    parse_stage_config,
    validate_workflow_config,
)
from minilm_repro.data.readers import TaskFormatError
from minilm_repro.jobs.workdir import input_fingerprint, last_checkpoint, mark_complete

pytestmark = pytest.mark.slow

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SMOKE = yaml.safe_load((REPO / "workflow" / "config" / "smoke.yaml").read_text())
TASKS = ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "squad_v2", "squad", "xnli", "mlqa")


def message(excinfo) -> str:
    """The exception's text, checked to be one line."""
    text = str(excinfo.value)
    assert "\n" not in text, f"not one line: {text!r}"
    return text


def nothing_in(path: Path) -> bool:
    return not path.exists() or not any(path.iterdir())


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tok(wordpiece_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(wordpiece_dir)


def _tiny_bert(out: Path, tok, positions: int = 64, heads: int = 2, vocab: int | None = None) -> Path:
    import torch
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=vocab or len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=heads,
                     intermediate_size=64, max_position_embeddings=positions, pad_token_id=tok.pad_token_id)
    BertForMaskedLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory, tok, toy_corpus):
    """A corpus of 32-token blocks, a tiny BERT (64 positions), SST-2-shaped task files and features."""
    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus
    from minilm_repro.finetune.features import FeaturesConfig, tokenize_task

    root = tmp_path_factory.mktemp("faults")
    prepare_corpus([toy_corpus], tok, CorpusConfig(max_seq_len=32), root / "corpus")
    _tiny_bert(root / "bert", tok)
    write_city_task(root / "tasks", {"train": 16, "validation": 8}, seed=3)
    tokenize_task(FeaturesConfig(task="sst2", languages=["en"], train_language="en", max_length=32),
                  tok, root / "tasks", root / "features")
    return root


@pytest.fixture
def readonly_dir(tmp_path):
    """An existing directory nobody can create files in, and the reason the system gives.

    Root writes through permission bits, so under root this is sysfs, which refuses new files to everyone."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
    else:
        ro = Path("/sys/fs")
    try:
        fd, probe = tempfile.mkstemp(dir=ro)
    except OSError as exc:
        yield ro, exc.strerror
    else:
        os.close(fd)
        os.unlink(probe)
        pytest.skip(f"{ro} is writable here")
    if ro != Path("/sys/fs"):
        ro.chmod(0o755)


def _config_error(tmp_path, change) -> str:
    cfg = copy.deepcopy(SMOKE)
    change(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as err:
        validate_workflow_config(cfg, SCHEMA, [path])
    lines = str(err.value).splitlines()
    assert lines[0] == "invalid workflow config:" and len(lines) == 2, lines
    assert nothing_in(tmp_path / "results")
    return lines[1].strip().removeprefix(f"{path}: ")


# --------------------------------------------------------------------------- workflow config (schema)


def test_misspelt_config_key(tmp_path):
    allowed = ("answer_languages, batch_size, bf16, checkpoint, doc_stride, epochs, freeze_embeddings, languages, "
               "logging_steps, lr, max_answer_length, max_device_batch, max_length, max_train_examples, n_best, save_steps, seeds, train_task, "
               "warmup_ratio, warmup_steps, weight_decay")
    assert _config_error(tmp_path, lambda c: c["finetune"]["tasks"]["mnli"].update(lerning_rate=[1e-3])) == \
        f"unknown key 'finetune.tasks.mnli.lerning_rate' (allowed here: {allowed})"


def test_wrong_value_type(tmp_path):
    assert _config_error(tmp_path, lambda c: c["tracks"]["mono"]["students"]["ta"]["optim"].update(steps="many")) == \
        "key 'tracks.mono.students.ta.optim.steps': 'many' is not of type 'integer'"


def test_unknown_task(tmp_path):
    assert _config_error(tmp_path, lambda c: c["tracks"]["mono"]["finetune"]["tasks"].append("mnlii")) == \
        f"key 'tracks.mono.finetune.tasks.9': 'mnlii' is not one of {list(TASKS)}"
    from minilm_repro.finetune.run import FinetuneConfig

    with pytest.raises(ConfigError) as err:  # a stage run without the workflow checks it too
        FinetuneConfig(task="mnlii", lr=1e-3, epochs=1)
    assert message(err) == "finetune.task: unknown task 'mnlii'"


def test_negative_learning_rate(tmp_path):
    assert _config_error(tmp_path, lambda c: c["finetune"]["tasks"]["mnli"].update(lr=[-1e-3])) == \
        "key 'finetune.tasks.mnli.lr.0': -0.001 is less than or equal to the minimum of 0"
    from minilm_repro.finetune.run import FinetuneConfig

    with pytest.raises(ConfigError) as err:
        FinetuneConfig(task="mnli", lr=-1e-3, epochs=1)
    assert message(err) == "finetune: lr and epochs must be positive"


def test_empty_grid(tmp_path):
    assert _config_error(tmp_path, lambda c: c["finetune"]["tasks"]["mnli"].update(seeds=[])) == \
        "key 'finetune.tasks.mnli.seeds': [] should be non-empty"


def _snakemake(workdir: Path, *args: str, configfile: Path | None = None) -> subprocess.Popen:
    cmd = ["snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "1", *args]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"})


def test_missing_teacher_of_a_student(tmp_path):
    cfg = copy.deepcopy(SMOKE)
    cfg["tracks"]["mono"]["students"]["student"]["teacher"] = "nobody"
    path = tmp_path / "chain.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "-n", configfile=path)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    # Snakemake prints the error, then the line of the rule file that raised it
    assert "config error: tracks.mono.students.student.teacher = 'nobody': not a model of this track" in out.splitlines(), out[-2000:]
    assert not (tmp_path / "results").exists()


def test_second_snakemake_in_the_same_directory(tmp_path):
    """A second instance that would write the first one's outputs refuses to start, naming the directory.

    The first instance's job (track init) is held on the MLflow store, locked here, until the second
    has answered; then it finishes normally."""
    import sqlite3

    target = "results/tracking/smoke.json"
    store = sqlite3.connect(tmp_path / "mlflow.db")
    store.execute("BEGIN EXCLUSIVE")
    first = _snakemake(tmp_path, target)
    try:
        deadline = time.time() + 300
        while not (tmp_path / "results" / "logs" / "track_init.log").exists():  # the job runs: the lock is held
            assert first.poll() is None and time.time() < deadline, first.stdout.read() if first.poll() is not None else ""
            time.sleep(0.05)
        second = _snakemake(tmp_path, target)
        out, _ = second.communicate(timeout=300)
    finally:
        store.rollback()
        store.close()
    first_out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, first_out[-2000:]
    assert second.returncode != 0
    assert "Error: Directory cannot be locked. Please make sure that no other Snakemake process is trying to " \
           "create the same files in the following directory:" in out.splitlines(), out[-2000:]
    assert str(tmp_path) in out.splitlines()


# --------------------------------------------------------------------------- stage config and models


def test_misspelt_stage_config_key():
    from minilm_repro.jobs.trainer_setup import OptimConfig

    with pytest.raises(ConfigError) as err:
        parse_stage_config(OptimConfig, {"stepz": 10, "batch_size": 8, "lr": 1e-3}, "pretrain.optim")
    assert message(err) == ("pretrain.optim: unknown key(s) ['stepz']; allowed: ['adam_beta1', 'adam_beta2', "
                            "'adam_epsilon', 'batch_size', 'bf16', 'logging_steps', 'lr', 'max_device_batch', "
                            "'max_grad_norm', 'save_steps', 'seed', 'steps', 'warmup_steps', 'weight_decay']")


def test_heads_that_do_not_divide_hidden():
    from transformers import BertConfig

    from minilm_repro.models.build import ArchConfig, student_config

    with pytest.raises(ConfigError) as err:
        ArchConfig(arch="bert", layers=2, hidden=100, heads=3)
    assert message(err) == "hidden 100 is not divisible by heads 3"
    with pytest.raises(ConfigError) as err:
        student_config(BertConfig(hidden_size=64, num_attention_heads=4), layers=2, hidden=30)
    assert message(err) == "student hidden 30 is not divisible by 4 heads"


def _distill_cfg(**shape):
    from minilm_repro.distill.train import DistillConfig

    return DistillConfig(optim={"steps": 4, "batch_size": 4, "lr": 1e-3}, shape={"layers": 1, "hidden": 32, **shape})


def test_head_count_mismatch(data, tmp_path):
    from minilm_repro.distill.train import distill

    with pytest.raises(ValueError) as err:
        distill(_distill_cfg(heads=1), str(data / "bert"), str(data / "corpus"), str(tmp_path / "student"),
                str(tmp_path / "work"))
    assert message(err) == ("MiniLM pairs attention heads one to one, but the teacher has 2 heads and the student 1: "
                            "give both the same head count, or use method='minilmv2' (relation heads re-split the "
                            "concatenated heads)")
    assert not (tmp_path / "student").exists() and not list((tmp_path / "work").glob("checkpoint-*"))


def test_tokenizer_that_does_not_fit_the_model(data, tok, tmp_path):
    from minilm_repro.distill.train import distill

    teacher = _tiny_bert(tmp_path / "teacher", tok, vocab=50)
    with pytest.raises(ConfigError) as err:
        distill(_distill_cfg(), str(teacher), str(data / "corpus"), str(tmp_path / "student"), str(tmp_path / "work"))
    assert message(err) == (f"teacher {teacher}: tokenizer has {len(tok)} tokens but the model's vocabulary is 50: "
                            "use the teacher's own tokenizer")
    assert not (tmp_path / "student").exists()


def test_corpus_blocks_longer_than_the_teacher_positions(data, tok, tmp_path):
    from minilm_repro.distill.train import distill

    teacher = _tiny_bert(tmp_path / "teacher", tok, positions=16)
    with pytest.raises(ConfigError) as err:
        distill(_distill_cfg(), str(teacher), str(data / "corpus"), str(tmp_path / "student"), str(tmp_path / "work"))
    assert message(err) == (f"corpus {data / 'corpus'} has blocks of up to 32 tokens, but teacher {teacher} has 16 "
                            "positions (max_position_embeddings 16): prepare the corpus with max_seq_len <= that")
    assert not (tmp_path / "student").exists()


def test_corpus_blocks_longer_than_the_pretrained_model_positions(data, wordpiece_dir, tmp_path):
    from minilm_repro.pretrain.train import PretrainConfig, pretrain

    cfg = PretrainConfig(arch={"arch": "bert", "layers": 1, "hidden": 32, "heads": 2, "max_position": 24},
                         optim={"steps": 4, "batch_size": 4, "lr": 1e-3})
    with pytest.raises(ConfigError) as err:
        pretrain(cfg, str(wordpiece_dir), str(data / "corpus"), str(tmp_path / "teacher"), str(tmp_path / "work"),
                 name="teacher")
    assert message(err) == (f"corpus {data / 'corpus'} has blocks of up to 32 tokens, but the teacher model has 24 "
                            "positions (max_position_embeddings 24): set corpus.max_seq_len <= that, or raise "
                            "arch.max_position")
    assert not (tmp_path / "teacher").exists() and nothing_in(tmp_path / "work")


def test_finetune_max_length_above_the_model_positions(data, tok, tmp_path):
    from minilm_repro.finetune.run import FinetuneConfig, finetune

    model = _tiny_bert(tmp_path / "model", tok, positions=16)
    with pytest.raises(ConfigError) as err:
        finetune(FinetuneConfig(task="sst2", lr=1e-3, epochs=1), str(model), str(data / "features"),
                 str(data / "tasks"), str(tmp_path / "work"))
    assert message(err) == (f"features {data / 'features'} are tokenised to max_length 32 tokens, but model {model} "
                            "has 16 positions (max_position_embeddings 16): set the task's max_length <= that")
    assert nothing_in(tmp_path / "work")


def test_offline_hub_miss_names_the_command(tmp_path, monkeypatch):
    from minilm_repro.data.sources import fetch_model

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError) as err:
        fetch_model("tiny-org/absent", "main", tmp_path / "teacher")
    assert str(err.value) == (
        "cannot fetch tiny-org/absent@main (LocalEntryNotFoundError): the hub is unreachable or HF_HUB_OFFLINE=1 is "
        "set. On a machine with network run `hf download tiny-org/absent --revision main` and copy the Hugging Face "
        "cache (HF_HOME) to this machine, or run this download job there (`snakemake --until <the fetch rule>`) and "
        "copy its output")
    assert not (tmp_path / "teacher").exists()


def _corrupt_copy(src: Path, dst: Path, card: bool) -> Path:
    import shutil

    shutil.copytree(src, dst)
    weights = dst / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    if card:
        (dst / "minilm_repro.json").write_text('{"name": "teacher"}')
    return dst


def test_corrupt_external_checkpoint_is_to_be_replaced_not_deleted(data, tmp_path):
    from minilm_repro.finetune.run import FinetuneConfig, finetune

    model = _corrupt_copy(data / "bert", tmp_path / "their-model", card=False)
    with pytest.raises(RuntimeError) as err:
        finetune(FinetuneConfig(task="sst2", lr=1e-3, epochs=1), str(model), str(data / "features"),
                 str(data / "tasks"), str(tmp_path / "work"))
    text = message(err)
    assert text.startswith(f"cannot load the checkpoint in {model} (") and "delete" not in text
    assert text.endswith("): the files are corrupt or incomplete; replace it with an intact copy (re-download or "
                         f"re-export the checkpoint); minilm-repro did not produce {model} and does not rebuild it")
    assert (model / "model.safetensors").exists()


def test_corrupt_pipeline_checkpoint_is_to_be_rebuilt(data, tmp_path):
    from minilm_repro.jobs.model_io import load_pretrained

    model = _corrupt_copy(data / "bert", tmp_path / "teacher", card=True)
    with pytest.raises(RuntimeError) as err:
        load_pretrained(model)
    text = message(err)
    assert text.startswith(f"cannot load the checkpoint in {model} (")
    assert text.endswith(f"): the files are corrupt or incomplete; delete {model} and rerun the stage that produces it")


# --------------------------------------------------------------------------- task files


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("split", ["train", "dev"])
def test_glue_file_without_its_label_column(tmp_path, split):
    from minilm_repro.data.readers import read_file

    path = _write(tmp_path / f"{split}.tsv", "sentence\nit is good .\nit is bad .\n")
    with pytest.raises(TaskFormatError) as err:
        read_file("sst2", path)
    assert message(err) == (f"{path}, line 1: no label column 'label' (header: sentence); only test files may lack "
                            "labels: use the train/dev file as distributed, or name it test.tsv if it is a test split")
    test = _write(tmp_path / "test.tsv", "sentence\nit is good .\n")
    assert read_file("sst2", test)["default"]["label"] == [-1]  # a test file may


def test_bad_squad_offsets(tmp_path):
    from minilm_repro.data.readers import read_squad_json

    doc = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "q1", "question": "Where?", "answers": [{"text": "France", "answer_start": 3}]}]}]}]}
    path = _write(tmp_path / "dev-v2.0.json", json.dumps(doc))
    with pytest.raises(TaskFormatError) as err:
        read_squad_json("squad_v2", path)
    assert message(err) == (f"{path}: question id 'q1': answer 'France' does not match the context at answer_start 3 "
                            "(context there: 'is is '); fix the offset")


def test_missing_tasks_root(tok, tmp_path):
    from minilm_repro.finetune.features import FeaturesConfig, tokenize_task

    root = tmp_path / "no-tasks"
    with pytest.raises(FileNotFoundError) as err:
        tokenize_task(FeaturesConfig(task="sst2", languages=["en"], train_language="en"), tok, root, tmp_path / "out")
    assert message(err) == (f"{root}/sst2/default/train.parquet does not exist (task 'sst2', config 'default', "
                            "split 'train'); splits present: none")
    assert not (tmp_path / "out").exists()


def test_truncated_parquet(tok, tmp_path):
    from minilm_repro.finetune.features import FeaturesConfig, tokenize_task

    write_city_task(tmp_path / "tasks", {"train": 8}, seed=1)
    path = tmp_path / "tasks" / "sst2" / "default" / "train.parquet"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(TaskFormatError) as err:
        tokenize_task(FeaturesConfig(task="sst2", languages=["en"], train_language="en"), tok, tmp_path / "tasks",
                      tmp_path / "out")
    assert message(err) == (f"{path} is not a readable parquet file (Parquet magic bytes not found in footer. Either "
                            "the file is corrupted or this is not a parquet file.): it is truncated or corrupt; delete it "
                            "and regenerate or re-download task 'sst2'")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- corpus text and prepared corpora


def _latin1(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("anna lives in paris .\n\nbob lives in k\u00f6ln .\n".encode("latin-1"))
    return path  # the o-umlaut (0xf6) is byte 37 of line 3


def test_corpus_file_not_utf8_for_the_corpus(tok, tmp_path):
    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus

    text = _latin1(tmp_path / "l0.txt")
    with pytest.raises(ValueError) as err:
        prepare_corpus([text], tok, CorpusConfig(max_seq_len=32), tmp_path / "corpus")
    assert message(err) == (f"{text}, line 3: not UTF-8 text at byte 37 (invalid start byte); re-encode the file as "
                            "UTF-8, e.g. iconv -f <its encoding> -t utf-8")
    assert not (tmp_path / "corpus").exists()


def test_corpus_file_not_utf8_for_the_tokenizer(tmp_path):
    """Through the CLI (the tokenizer is the first job to read the text): the message is stderr's last line."""
    text = _latin1(tmp_path / "l0.txt")
    res = subprocess.run(job_argv("train-tokenizer", {"kind": "wordpiece", "vocab_size": 100},
                                  {"text": [str(text)], "out": str(tmp_path / "tokenizer")}),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert res.stderr.splitlines()[-1] == (f"ValueError: {text}, line 3: not UTF-8 text at byte 37 (invalid start "
                                           "byte); re-encode the file as UTF-8, e.g. iconv -f <its encoding> -t utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l0.txt"]


@pytest.mark.parametrize("stage", ["tokenizer", "corpus"])
def test_read_only_folder_for_a_data_output(readonly_dir, tok, tmp_path, stage):
    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus
    from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer

    ro, reason = readonly_dir
    text = write_toy_corpus(tmp_path / "text" / "l0.txt", docs=5)
    out = ro / "minilm-faults" / stage
    with pytest.raises(PermissionError) as err:
        if stage == "tokenizer":
            train_tokenizer([str(text)], TokenizerConfig(kind="wordpiece", vocab_size=100), out)
        else:
            prepare_corpus([text], tok, CorpusConfig(max_seq_len=32), out)
    assert message(err) == (f"cannot write the {stage} directory {out}: {ro} is not writable ({reason}); make it "
                            "writable or choose another path")


@pytest.mark.parametrize("kind", ["wordpiece", "sentencepiece"])
def test_blank_corpus_trains_no_tokenizer(tmp_path, kind):
    from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer

    good = write_toy_corpus(tmp_path / "l0.txt", docs=5)
    blank = _write(tmp_path / "l1.txt", "\n\n  \n\n")
    with pytest.raises(ValueError) as err:
        train_tokenizer([str(good), str(blank)], TokenizerConfig(kind=kind, vocab_size=100), tmp_path / "tokenizer")
    assert message(err) == f"corpus file {blank} holds no text (it is empty or only blank lines); remove it or fill it"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l0.txt", "l1.txt"]


def test_blank_corpus_prepares_no_corpus(tok, tmp_path):
    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus

    blank = _write(tmp_path / "l0.txt", "\n\n\n")
    with pytest.raises(ValueError) as err:
        prepare_corpus([blank], tok, CorpusConfig(max_seq_len=32), tmp_path / "corpus")
    assert message(err) == f"corpus file {blank} holds no text (it is empty or only blank lines); remove it or fill it"
    assert not (tmp_path / "corpus").exists()


def test_truncated_corpus_shard(data, tmp_path):
    import shutil

    from minilm_repro.data.corpus import load_corpus

    corpus = tmp_path / "corpus"
    shutil.copytree(data / "corpus", corpus)
    shard = corpus / "data-00000-of-00001.arrow"
    shard.write_bytes(shard.read_bytes()[:3000])
    with pytest.raises(ValueError) as err:
        load_corpus(corpus)
    text = message(err)
    assert text.startswith(f"corpus shard {shard} is unreadable (")
    assert text.endswith(f"): the prepared corpus is incomplete or corrupt; delete {corpus} and rerun "
                         "`minilm-repro prepare-corpus`")


def test_pretraining_writes_nothing_into_its_inputs(data, wordpiece_dir, tmp_path):
    """datasets' split caches (cache-*.arrow) once landed in the corpus directory, changing its fingerprint."""
    from minilm_repro.pretrain.train import PretrainConfig, pretrain

    inputs = [data / "corpus", Path(wordpiece_dir)]
    before = input_fingerprint(*inputs), sorted(p.name for p in (data / "corpus").iterdir())
    cfg = PretrainConfig(arch={"arch": "bert", "layers": 1, "hidden": 16, "heads": 2, "max_position": 32},
                         optim={"steps": 2, "batch_size": 4, "lr": 1e-3, "save_steps": 1})
    metrics = pretrain(cfg, str(wordpiece_dir), str(data / "corpus"), str(tmp_path / "model"), str(tmp_path / "work"))
    assert metrics["steps"] == 2 and (tmp_path / "model" / "model.safetensors").is_file()
    assert (input_fingerprint(*inputs), sorted(p.name for p in (data / "corpus").iterdir())) == before


# --------------------------------------------------------------------------- checkpoints


def _checkpoint(work: Path, step: int, max_steps: int = 100, complete: bool = True) -> Path:
    """A checkpoint as the Trainer (and, when ``complete``, complete_checkpoints()) leaves it."""
    ckpt = work / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": max_steps}))
    (ckpt / "model.safetensors").write_bytes(bytes(range(8)) * 16)
    if complete:
        mark_complete(ckpt)
    return ckpt


KEY = {"config": {"lr": 1e-3}, "inputs": {}}


def _claimed(work: Path) -> Path:
    assert last_checkpoint(work, KEY) is None  # records the key, as a job's first start does
    return work


def test_truncated_newest_checkpoint_falls_back_to_the_previous(tmp_path, capfd):
    work = _claimed(tmp_path / "work")
    _checkpoint(work, 10)
    bad = _checkpoint(work, 20)
    (bad / "model.safetensors").write_bytes(b"\0" * 40)  # the error resuming it gave: SafetensorError, no path
    assert last_checkpoint(work, KEY) == str(work / "checkpoint-10")
    assert capfd.readouterr().err.splitlines() == [
        f"{bad}: incomplete or corrupt checkpoint (model.safetensors has 40 bytes, 128 when saved); removed it, "
        "resuming from checkpoint-10"]
    assert not bad.exists()


def test_overwritten_newest_checkpoint_falls_back_to_the_previous(tmp_path, capfd):
    work = _claimed(tmp_path / "work")
    _checkpoint(work, 10)
    bad = _checkpoint(work, 20)
    (bad / "model.safetensors").write_bytes(b"\1" * 128)  # same size, other bytes
    assert last_checkpoint(work, KEY) == str(work / "checkpoint-10")
    assert capfd.readouterr().err.splitlines() == [
        f"{bad}: incomplete or corrupt checkpoint (model.safetensors differs from the file saved (sha256)); "
        "removed it, resuming from checkpoint-10"]


def test_half_written_checkpoint_is_not_taken(tmp_path, capfd):
    work = _claimed(tmp_path / "work")
    _checkpoint(work, 10)
    half = _checkpoint(work, 20, complete=False)  # killed while the Trainer wrote it in place
    assert last_checkpoint(work, KEY) == str(work / "checkpoint-10")
    assert capfd.readouterr().err.splitlines() == [
        f"{half}: incomplete or corrupt checkpoint (no complete.json: the job was stopped while saving it); "
        "removed it, resuming from checkpoint-10"]


def test_no_complete_checkpoint_left_trains_from_step_0(tmp_path, capfd):
    work = _claimed(tmp_path / "work")
    half = _checkpoint(work, 10, complete=False)
    assert last_checkpoint(work, KEY) is None
    assert capfd.readouterr().err.splitlines() == [
        f"{half}: incomplete or corrupt checkpoint (no complete.json: the job was stopped while saving it); "
        "removed it, no complete checkpoint is left: training from step 0"]
    assert not list(work.glob("checkpoint-*"))


def test_finished_run_is_retrained_not_resumed(tmp_path, capfd):
    """A rerun of a finished job (its output deleted, or snakemake -R/-f) trains from step 0 again."""
    work = _claimed(tmp_path / "work")
    _checkpoint(work, 90)
    _checkpoint(work, 100)
    assert last_checkpoint(work, KEY) is None
    assert capfd.readouterr().err.splitlines() == [
        f"{work}: checkpoint-100 ends a finished run (step 100 of 100); training again from step 0, as the first "
        "run did"]
    assert not list(work.glob("checkpoint-*"))


def test_checkpoints_of_another_job_are_not_resumed(tmp_path, capfd):
    work = _claimed(tmp_path / "work")
    _checkpoint(work, 10)
    assert last_checkpoint(work, {**KEY, "config": {"lr": 2e-3}}) is None
    assert capfd.readouterr().err.splitlines() == [
        f"{work}: its checkpoints were made for another config (job_key.json); starting afresh"]
    assert not list(work.glob("checkpoint-*"))


# --------------------------------------------------------------------------- tracking store and outputs


def test_corrupt_mlflow_store(tmp_path, monkeypatch):
    from minilm_repro.jobs import tracking

    db = tmp_path / "mlflow.db"
    db.write_bytes(os.urandom(4096))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    with pytest.raises(tracking.TrackingStoreError) as err, \
            tracking.job_run("faults", "job", {"stage": "pretrain"}, {"lr": 1e-3}):
        pytest.fail("the job ran on a corrupt store")
    assert message(err) == (f"MLflow store sqlite:///{db} is corrupt (file is not a database): "
                            f"move {db} aside (or restore it from a backup) to start a new store, or set "
                            "MLFLOW_TRACKING_URI to another store")


def test_unwritable_mlflow_store(readonly_dir, monkeypatch):
    from minilm_repro.jobs import tracking

    ro, _ = readonly_dir
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{ro}/mlflow.db")
    with pytest.raises(tracking.TrackingStoreError) as err:
        tracking.init_experiment("faults")
    assert message(err) == (f"MLflow store sqlite:///{ro}/mlflow.db is not writable (unable to open "
                            f"database file): make {ro}/mlflow.db and {ro} writable, or set MLFLOW_TRACKING_URI "
                            "to a writable store")


def test_read_only_results_folder_fails_before_training(data, wordpiece_dir, readonly_dir, tmp_path):
    from minilm_repro.pretrain.train import PretrainConfig, pretrain

    ro, reason = readonly_dir
    out = ro / "minilm-faults" / "models" / "teacher"
    cfg = PretrainConfig(arch={"arch": "bert", "layers": 1, "hidden": 16, "heads": 2, "max_position": 32},
                         optim={"steps": 2, "batch_size": 4, "lr": 1e-3})
    with pytest.raises(PermissionError) as err:
        pretrain(cfg, str(wordpiece_dir), str(data / "corpus"), str(out), str(tmp_path / "work"))
    assert message(err) == (f"cannot write the model directory {out}: {ro} is not writable ({reason}); make it "
                            "writable or choose another path")
    assert not (tmp_path / "work").exists()  # nothing started
