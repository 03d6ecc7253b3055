"""Every training stage resumes exactly, and a rerun of a finished job gives its first result again.

For each of ``pretrain``, ``distill`` and ``finetune``: the stage's CLI command runs once without
interruption; the same command in a second work directory is killed with SIGKILL (in a forked
child process, stopped right after a checkpoint is marked complete), then run again to its end: the final weights
equal the uninterrupted run's (max abs diff < 1e-6 on CPU) and so do the scores. Then the
resumed job's output is deleted and the command run once more: the job retrains from step 0
(its checkpoints end a finished run) and gives the same weights and scores. None of the runs
writes into its input directories.
"""

import json
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from conftest import job_spec, write_city_task

from minilm_repro.cli import main
from minilm_repro.jobs.workdir import MARKER, input_fingerprint

pytestmark = pytest.mark.slow

TIMING = ("train_seconds", "tokens_per_second", "train_samples_per_second")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, wordpiece_dir, toy_corpus):
    """A tokenizer, a corpus of 32-token blocks, a tiny BERT (teacher / model to fine-tune) and SST-2-shaped features."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus
    from minilm_repro.finetune.features import FeaturesConfig, tokenize_task

    root = tmp_path_factory.mktemp("resume")
    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    prepare_corpus([toy_corpus], tok, CorpusConfig(max_seq_len=32), root / "corpus")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    BertForMaskedLM(cfg).save_pretrained(root / "bert")
    tok.save_pretrained(root / "bert")
    write_city_task(root / "tasks", {"train": 64, "validation": 24}, seed=3)
    tokenize_task(FeaturesConfig(task="sst2", languages=["en"], train_language="en", max_length=32),
                  tok, root / "tasks", root / "features")
    return {"root": root, "tokenizer": Path(wordpiece_dir)}


def _job(stage: str, cfg: dict, paths: dict, name: str) -> list[str]:
    return [stage, "--spec", job_spec(stage, cfg, {k: str(v) for k, v in paths.items()}, tags={"model": name},
                                      run_name=name, profile="resume")]


def pretrain_job(inputs, run: Path):
    cfg = {"arch": {"arch": "bert", "layers": 2, "hidden": 32, "heads": 2, "max_position": 64},
           "optim": {"steps": 60, "batch_size": 8, "lr": 1e-3, "warmup_steps": 5, "save_steps": 10,
                     "logging_steps": 10, "seed": 3}}
    argv = _job("pretrain", cfg, {"tokenizer": inputs["tokenizer"], "corpus": inputs["root"] / "corpus",
                                  "out": run / "model", "workdir": run / "work", "metrics": run / "metrics.json"},
                "teacher")
    return argv, [inputs["tokenizer"], inputs["root"] / "corpus"], run / "model"


def distill_job(inputs, run: Path):
    cfg = {"shape": {"layers": 1, "hidden": 16},
           "optim": {"steps": 60, "batch_size": 8, "lr": 5e-4, "warmup_steps": 5, "save_steps": 10,
                     "logging_steps": 10, "seed": 7}}
    argv = _job("distill", cfg, {"teacher": inputs["root"] / "bert", "teacher_name": "teacher",
                                 "corpus": inputs["root"] / "corpus", "out": run / "model", "workdir": run / "work",
                                 "metrics": run / "metrics.json"}, "student")
    return argv, [inputs["root"] / "bert", inputs["root"] / "corpus"], run / "model"


def finetune_job(inputs, run: Path):
    cfg = {"task": "sst2", "lr": 1e-3, "epochs": 6, "batch_size": 8, "seed": 1, "save_steps": 8, "logging_steps": 8}
    argv = _job("finetune", cfg, {"model": inputs["root"] / "bert", "features": inputs["root"] / "features",
                                  "tasks_root": inputs["root"] / "tasks", "workdir": run / "work",
                                  "metrics": run / "metrics.json"}, "sst2")
    # fine-tuning writes no model: its final weights are the checkpoint of its last step (6 epochs x 8 steps)
    return argv, [inputs["root"] / "bert", inputs["root"] / "features", inputs["root"] / "tasks"], \
        run / "work" / "checkpoint-48"


def max_diff(a: Path, b: Path) -> float:
    """Largest absolute difference between the weights of two model (or checkpoint) directories."""
    from safetensors.torch import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


def _result(run: Path, train_loss: bool = True) -> dict:
    """A job's metrics file less timings, run tags and how it started. ``train_loss`` is the mean over
    the steps the last call trained, so a resumed run's differs; its history does not."""
    record = json.loads((run / "metrics.json").read_text())
    drop = {*TIMING, "tags", "resumed", "resumed_from_step", *(() if train_loss else ("train_loss",))}
    return {k: v for k, v in record.items() if k not in drop}


def _close(a, b, tol: float = 1e-6) -> bool:
    """Equal structure, numbers within ``tol`` relative (sums in another order differ in the last bits)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= tol * max(1.0, abs(b))
    return a == b


def _stop_after_checkpoints(argv: list[str], count: int) -> None:
    """The child: run ``argv``, stopping itself (SIGSTOP) once ``count`` checkpoints are marked complete,
    so that it is killed at that point and not some steps later."""
    from minilm_repro.jobs import workdir

    real, marked = workdir.mark_complete, []

    def mark_then_stop(checkpoint):
        out = real(checkpoint)
        marked.append(checkpoint)
        if len(marked) == count:
            os.kill(os.getpid(), signal.SIGSTOP)
        return out

    workdir.mark_complete = mark_then_stop
    main(argv)


def _kill_after_checkpoints(argv: list[str], work: Path, count: int) -> list[Path]:
    """Run ``argv`` in a forked child; SIGKILL it once ``count`` checkpoints are complete.
    Returns the complete checkpoints left, oldest first."""
    child = multiprocessing.get_context("fork").Process(target=_stop_after_checkpoints, args=(argv, count))
    child.start()
    deadline = time.time() + 300
    while len(list(work.glob(f"checkpoint-*/{MARKER}"))) < count:
        assert child.is_alive(), f"the job ended (exit code {child.exitcode}) before {count} checkpoints were complete"
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert child.exitcode == -signal.SIGKILL
    return sorted((m.parent for m in work.glob(f"checkpoint-*/{MARKER}")), key=lambda p: int(p.name.split("-")[1]))


@pytest.mark.parametrize("job, corrupt", [(pretrain_job, False), (distill_job, True), (finetune_job, False)],
                         ids=["pretrain", "distill-newest-checkpoint-corrupt", "finetune"])
def test_kill_resume_and_rerun_end_where_an_uninterrupted_run_ends(job, corrupt, inputs, tmp_path, capfd):
    """``corrupt``: after the kill, the newest complete checkpoint's weights are truncated; the job
    resumes from the one before (saying so) and still ends where the uninterrupted run does."""
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref_argv, input_dirs, ref_final = job(inputs, ref)
    argv, _, final = job(inputs, run)
    before = input_fingerprint(*input_dirs)

    complete = _kill_after_checkpoints(argv, run / "work", 2 if corrupt else 1)
    assert not (run / "metrics.json").exists() and not (run / "model").exists()
    if corrupt:
        weights = complete[-1] / "model.safetensors"
        saved_size = weights.stat().st_size
        weights.write_bytes(weights.read_bytes()[:1000])
    killed_at = int(complete[-2 if corrupt else -1].name.split("-")[1])
    assert main(ref_argv) == 0
    capfd.readouterr()
    assert main(argv) == 0  # the same command again: resumes from the checkpoint
    if corrupt:
        assert f"{complete[-1]}: incomplete or corrupt checkpoint (model.safetensors has 1000 bytes, " \
               f"{saved_size} when saved); removed it, resuming from " \
               f"{complete[-2].name}" in capfd.readouterr().err.splitlines()
    resumed = json.loads((run / "metrics.json").read_text())
    assert resumed.get("resumed_from_step", killed_at) >= killed_at and resumed.get("resumed", True)
    diff = max_diff(ref_final, final)
    with capfd.disabled():
        print(f"\n{job.__name__}: killed after the checkpoint of step {killed_at}{' (the next one corrupt)' if corrupt else ''}; "
              f"resumed: max abs weight diff {diff:.3g}")
    assert diff < 1e-6, diff
    assert _close(_result(run, train_loss=False), _result(ref, train_loss=False))

    first = tmp_path / "first-result"
    shutil.copytree(final, first)
    shutil.rmtree(run / "model", ignore_errors=True)  # what `snakemake -R` (or a deleted output) does
    (run / "metrics.json").unlink()
    capfd.readouterr()
    assert main(argv) == 0
    err = capfd.readouterr().err
    steps = resumed["steps"]
    assert f"{run / 'work'}: checkpoint-{steps} ends a finished run (step {steps} of {steps}); training again from " \
           "step 0, as the first run did" in err.splitlines(), err[-3000:]
    rediff = max_diff(first, final)
    with capfd.disabled():
        print(f"\n{job.__name__}: rerun of the finished job: max abs weight diff {rediff:.3g} to its first result")
    assert rediff < 1e-6, rediff
    assert _close(_result(run), _result(ref))  # train_loss too: both trained every step
    assert input_fingerprint(*input_dirs) == before, "a stage wrote into its input directories"


def test_masks_are_a_function_of_seed_epoch_and_row(wordpiece_dir):
    """What makes MLM resume exact: a mask depends on (seed, epoch, row) alone, and still changes
    from epoch to epoch (dynamic masking) at BERT's rates."""
    import numpy as np
    from transformers import AutoTokenizer, TrainerState

    from minilm_repro.pretrain.masking import EVAL_STREAM, SeededMasking

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    ids = tok(" ".join(["anna lives in paris and works as a doctor ."] * 4))["input_ids"]
    first, again = SeededMasking(tok, 0.15, seed=3), SeededMasking(tok, 0.15, seed=3)
    masked, labels = first.mask(ids, row=5, stream=1)
    assert np.array_equal(masked, again.mask(ids, row=5, stream=1)[0])  # another collator, same mask
    for other in [first.mask(ids, 5, 2), first.mask(ids, 6, 1), SeededMasking(tok, 0.15, seed=4).mask(ids, 5, 1)]:
        assert not np.array_equal(labels, other[1])  # another epoch, row or seed: another mask
    state = TrainerState(epoch=2.5)  # resumed half-way through the third epoch
    first.on_epoch_begin(None, state, None)
    assert first.stream == 3 and EVAL_STREAM not in (first.stream, 1)

    ids = np.asarray(ids)
    special = np.isin(ids, tok.all_special_ids)
    chosen = kept = to_mask = 0
    for row in range(2000):
        masked, labels = first.mask(ids, row, stream=1)
        picked = labels != -100
        assert not (picked & special).any() and (labels[picked] == ids[picked]).all()
        chosen += picked.sum()
        to_mask += (masked[picked] == tok.mask_token_id).sum()
        kept += (masked[picked] == ids[picked]).sum()
    assert abs(chosen / (2000 * (~special).sum()) - 0.15) < 0.005
    assert abs(to_mask / chosen - 0.8) < 0.02 and abs(kept / chosen - 0.1) < 0.02
