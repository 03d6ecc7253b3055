"""A process that sees 2 GPUs without torchrun trains on one: no nn.DataParallel, the global batch kept.

The 2-GPU view is faked on a CPU machine: ``torch.cuda.is_available`` / ``device_count`` /
``set_device`` are patched, and ``nn.Module.to`` only records where each module was sent (no
tensor can go to CUDA here). The real stages run, ``finetune()`` and ``distill()``, up to the
moment their Trainer would start training; the Trainer they built is then inspected.

Without the guard in ``minilm_repro.jobs.trainer_setup.trainer_arguments`` the HF Trainer reads
``n_gpu == 2``: it would wrap the model in ``nn.DataParallel`` and feed it micro-batches of twice
the per-device batch (global batch 16 instead of the configured 8), and ``_wrap_model`` fails on
the fake devices.
"""

import pytest
import torch
from conftest import write_city_task

GLOBAL_BATCH = 8
MAX_DEVICE_BATCH = 4  # 1 process: 4 per micro-batch x 2 accumulation steps = 8


class _TrainingStarted(Exception):
    def __init__(self, trainer):
        super().__init__("Trainer.train called")
        self.trainer = trainer


@pytest.fixture
def two_gpu_view(monkeypatch):
    """CUDA with 2 devices, no torchrun; yields {id(module): device} of every ``Module.to(device)``."""
    from accelerate.state import AcceleratorState
    from transformers import Trainer

    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "ACCELERATE_USE_CPU"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))  # fp16 (mixed precision)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100-SXM2-32GB")
    moved = {}

    def record_to(self, *args, **kwargs):
        device = kwargs.get("device", args[0] if args else None)
        if isinstance(device, (str, torch.device)):
            moved[id(self)] = torch.device(device)
        return self

    monkeypatch.setattr(torch.nn.Module, "to", record_to)

    def stop(self, *args, **kwargs):
        raise _TrainingStarted(self)

    monkeypatch.setattr(Trainer, "train", stop)
    yield moved
    AcceleratorState._reset_state(reset_partial_state=True)  # the fake cuda:0 state must not leak


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, wordpiece_dir, toy_corpus):
    """A tiny BERT teacher, its corpus blocks and an SST-2-shaped task tokenised with its tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus
    from minilm_repro.finetune.features import FeaturesConfig, tokenize_task

    root = tmp_path_factory.mktemp("dp")
    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    BertForMaskedLM(cfg).save_pretrained(root / "teacher")
    tok.save_pretrained(root / "teacher")
    prepare_corpus([toy_corpus], tok, CorpusConfig(max_seq_len=32), root / "corpus")
    write_city_task(root / "tasks", {"train": 32, "validation": 8}, seed=3)
    tokenize_task(FeaturesConfig(task="sst2", languages=["en"], train_language="en", max_length=32),
                  tok, root / "tasks", root / "features")
    return root


def _one_device_problems(trainer) -> list[str]:
    args, problems = trainer.args, []
    if args.n_gpu != 1:
        problems.append(f"args.n_gpu = {args.n_gpu} (expected 1: one device per process)")
    if args.device != torch.device("cuda", 0):
        problems.append(f"args.device = {args.device} (expected cuda:0, rank 0's device)")
    batch = (args.per_device_train_batch_size, args.gradient_accumulation_steps, args.world_size)
    if batch != (MAX_DEVICE_BATCH, GLOBAL_BATCH // MAX_DEVICE_BATCH, 1):
        problems.append(f"per-device batch, accumulation, world = {batch}")
    # the micro-batch the Trainer's data loader draws, x accumulation x world = the configured batch
    global_batch = trainer._train_batch_size * args.gradient_accumulation_steps * args.world_size
    if global_batch != GLOBAL_BATCH:
        problems.append(f"global batch {global_batch} (configured {GLOBAL_BATCH})")
    if problems:  # _wrap_model would try nn.DataParallel on the fake devices and fail
        return problems
    wrapped = trainer._wrap_model(trainer.model)
    if wrapped is not trainer.model:
        problems.append(f"Trainer._wrap_model returned {type(wrapped).__name__}, not the bare model")
    return problems


def test_finetune_on_two_visible_gpus_uses_one(tiny, two_gpu_view, tmp_path):
    from minilm_repro.finetune.run import FinetuneConfig, finetune

    cfg = FinetuneConfig(task="sst2", lr=1e-3, epochs=1, batch_size=GLOBAL_BATCH, max_device_batch=MAX_DEVICE_BATCH)
    with pytest.raises(_TrainingStarted) as started:
        finetune(cfg, str(tiny / "teacher"), str(tiny / "features"), str(tiny / "tasks"), str(tmp_path / "work"))
    trainer = started.value.trainer
    problems = _one_device_problems(trainer)
    if two_gpu_view.get(id(trainer.model)) != torch.device("cuda", 0):
        problems.append(f"model sent to {two_gpu_view.get(id(trainer.model))}, not cuda:0")
    assert not problems, "\n".join(problems)


def test_distill_on_two_visible_gpus_uses_one_and_puts_the_teacher_there(tiny, two_gpu_view, tmp_path):
    from minilm_repro.distill.train import DistillConfig, distill

    cfg = DistillConfig(optim={"steps": 2, "batch_size": GLOBAL_BATCH, "lr": 1e-3, "max_device_batch": MAX_DEVICE_BATCH},
                        shape={"layers": 1, "hidden": 16})
    with pytest.raises(_TrainingStarted) as started:
        distill(cfg, str(tiny / "teacher"), str(tiny / "corpus"), str(tmp_path / "student"), str(tmp_path / "work"))
    trainer = started.value.trainer
    problems = _one_device_problems(trainer)
    # the student trains inside the loss module the Trainer places; the teacher is outside its tree
    for what, module in (("loss module (student)", trainer.model), ("teacher", trainer.model.teacher)):
        if two_gpu_view.get(id(module)) != trainer.args.device:
            problems.append(f"{what} sent to {two_gpu_view.get(id(module))}, not the rank's {trainer.args.device}")
    assert not problems, "\n".join(problems)
