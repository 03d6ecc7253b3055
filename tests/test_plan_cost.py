"""minilm-repro plan --cost (minilm_repro/plan/cost.py): FLOPs per stage by hand and from torch's counter,
GPU-hours at a stated MFU, the throughput path, and its one-line errors."""

import json
from pathlib import Path

import pytest

from minilm_repro.commands.plan import main
from minilm_repro.plan import cost, flops
from minilm_repro.plan.planner import Plan, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "workflow" / "config"
SMOKE, PAPER = str(CONFIGS / "smoke.yaml"), str(CONFIGS / "paper-mono.yaml")


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    """Relative paths (results/, resources/tasks) resolve in an empty directory: nothing is on disk."""
    monkeypatch.chdir(tmp_path)


def _rows(configfile, **kw):
    rows, _ = cost.stage_rows(Plan(load_config([configfile])), **kw)
    return {r.name: r for r in rows}


def _run(capsys, *argv):
    rc = main(["--cost", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _table_line(out: str, name: str) -> list[str]:
    """The fields of the table line of ``name`` (a row with a one-word model: ... tok/s/dev [10], GPU-h [11],
    wall-h [12]; a total line ends with GPU-h, wall-h)."""
    return next(f for f in (line.split() for line in out.splitlines()) if len(f) > 1 and f[0] == name
                and f[1].isdigit())


def test_smoke_student_distillation_by_hand():
    # smoke, track mono: student 2x64 distilled from the assistant ta (4x64), intermediate 4 x 64 = 256,
    # corpus max_seq_len S = 64, 300 steps x batch 32, MiniLM (attention + value relations, last layers)
    S, H, Fi = 64, 64, 256
    qkv = 3 * 2 * S * H * H                 # Q, K, V: 3 x (S, H) @ (H, H)       = 1,572,864
    rel = 2 * S * S * H                     # one S x S matrix over all heads     =   524,288
    layer = qkv + 2 * rel + 2 * S * H * H + 2 * 2 * S * H * Fi  # + scores/mix, out proj, FFN = 7,340,032
    assert (qkv, rel, layer) == (1_572_864, 524_288, 7_340_032)
    teacher = 3 * layer + qkv               # ta's layers 1-3, then Q, K, V of layer 4 (the forward stops there)
    student = 3 * (1 * layer + qkv)         # layer 1, Q, K, V of layer 2; forward + backward = 3 x forward
    relations = 2 * rel + 3 * 2 * rel       # teacher's 2 relations, the student's 2 (trained: 3 x)
    sequences = 300 * 32
    row = _rows(SMOKE)["distill/mono/student"]
    assert row.model == "4x64->2x64" and row.seq_len == S and row.tokens == sequences * S
    assert row.teacher == sequences * teacher
    assert row.trained == sequences * student
    assert row.terms == sequences * relations
    assert row.flops == sequences * (23_592_960 + 26_738_688 + 4_194_304)
    # the same count as the benchmark's step FLOPs (minilm_repro.plan.flops.distill_step_flops)
    assert row.flops == flops.distill_step_flops(4, 64, 2, 64, S, sequences, relations=2)


def test_paper_l6xh768_row_per_token_by_hand():
    # BERT-base (12 x 768, F 3072) -> 6 x 768, S = 512: FLOPs per token (docs/cost.md)
    S, H = 512, 768
    layer = 24 * H * H + 4 * S * H          # per token: Q, K, V 6H², out 2H², FFN 16H²; scores + mix 4 S H
    assert layer == 15_728_640
    teacher = 11 * layer + 6 * H * H        # 176,553,984
    student = 3 * (5 * layer + 6 * H * H)   # 246,546,432
    relations = 2 * 2 * S * H + 3 * 2 * 2 * S * H  # 1,572,864 + 4,718,592
    row = _rows(PAPER)["distill/mono/L6xH768"]
    tokens = 400_000 * 1024 * 512
    assert row.tokens == tokens == 209_715_200_000
    assert (row.teacher / tokens, row.trained / tokens, row.terms / tokens) == (teacher, student, relations)


def test_gpu_hours_at_a_stated_mfu(capsys):
    rate = cost.mfu_rate("h100", 0.5)
    assert rate.flops_per_s == 0.5 * 989e12 and rate.device == "H100 SXM"
    assert cost.gpu_hours(3.6e18, rate) == pytest.approx(3.6e18 / (0.5 * 989e12) / 3600)  # 2.02 h
    with pytest.raises(cost.CostError, match="--mfu"):
        cost.mfu_rate("h100", 1.5)
    # the printed row: FLOPs / (0.4 x 989 TFLOP/s) / 3600 device-hours, / 8 on 8 devices
    rc, out, _ = _run(capsys, "--configfile", PAPER, "--device", "h100", "--gpus", "8", "--mfu", "0.4")
    assert rc == 0
    row = _rows(PAPER)["distill/mono/L6xH768"]
    hours = row.flops / (0.4 * 989e12) / 3600
    fields = _table_line(out, "distill/mono/L6xH768")
    assert fields[11:13] == [f"{hours:.1f}", f"{hours / 8:.1f}"]
    v100 = cost.gpu_hours(row.flops, cost.mfu_rate("v100", 0.4))
    assert v100 / hours == pytest.approx(989 / 125)
    total = sum(r.flops for r in _rows(PAPER).values()) / (0.4 * 989e12) / 3600
    assert _table_line(out, "total")[-2:] == [f"{total:,.1f}", f"{total / 8:,.1f}"]


def test_finetune_sweep_uses_every_job_and_states_assumed_sizes(capsys, tmp_path):
    # paper-mono RTE: 10 models x lr {2,3,4,5}e-5 x epochs {3,4,5,10} x seeds {1,2,3,4}; 2,490 examples of 128 tokens
    row = _rows(PAPER)["finetune/mono/rte"]
    assert row.jobs == 10 * 4 * 4 * 4
    assert row.tokens == 10 * 4 * 4 * (3 + 4 + 5 + 10) * 2_490 * 128
    assert "assumed" in row.what
    shapes = {"teacher": (12, 768, 3072), "L6xH768": (6, 768, 3072), "scratch": (6, 768, 3072),
              "L12xH384": (12, 384, 1536), "L6xH384": (6, 384, 1536), "L4xH384": (4, 384, 1536),
              "L3xH384": (3, 384, 1536), "L6xH384-TA": (6, 384, 1536), "L4xH384-TA": (4, 384, 1536),
              "L3xH384-TA": (3, 384, 1536)}
    per_sequence = sum(3 * flops.encoder_flops(L, H, 128, 1, intermediate=Fi) for L, H, Fi in shapes.values())
    assert row.trained == pytest.approx(4 * 4 * (3 + 4 + 5 + 10) * 2_490 * per_sequence, rel=1e-12)
    # a stated mean length halves the tokens
    halved = _rows(PAPER, mean_lengths=cost.parse_mean_lengths("64"))
    assert halved["finetune/mono/rte"].tokens == row.tokens / 2
    per_task = _rows(PAPER, mean_lengths=cost.parse_mean_lengths("rte=32,squad_v2=1000"))
    assert per_task["finetune/mono/rte"].tokens == row.tokens / 4 and per_task["finetune/mono/rte"].seq_len == 32
    assert per_task["finetune/mono/squad_v2"].seq_len == 384  # capped at its max_length
    assert per_task["finetune/mono/mnli"].seq_len == 128
    with pytest.raises(cost.CostError, match="TASK=TOKENS"):
        cost.parse_mean_lengths("rte=long")
    rc, out, _ = _run(capsys, "--configfile", PAPER, "--device", "h100", "--stage", "finetune")
    assert rc == 0 and "rte 2,490" in out and "mnli 392,702" in out and "squad_v2 130,319" in out
    # data on disk wins over the assumption: a 10-example RTE training split
    import pyarrow as pa
    import pyarrow.parquet as pq

    from minilm_repro.data.layout import split_path

    config = load_config([PAPER])
    config["tasks_root"] = str(tmp_path / "tasks")
    path = split_path(config["tasks_root"], "rte", "default", "train")
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"sentence1": ["a"] * 10, "sentence2": ["b"] * 10, "label": [0] * 10}), path)
    rows, _ = cost.stage_rows(Plan(config))
    rte = next(r for r in rows if r.name == "finetune/mono/rte")
    assert rte.examples == 10 and "on disk" in rte.what and rte.tokens == row.tokens / 249


def test_generated_benchmark_sizes_for_smoke():
    from minilm_repro.data.synthetic import SyntheticConfig

    config = load_config([SMOKE])
    sizes = SyntheticConfig.from_dict(config["benchmark"])
    rows = _rows(SMOKE)
    assert rows["finetune/mono/mnli"].examples == sizes.size("mnli", "train")
    assert rows["finetune/multi/mlqa"].examples == sizes.size("squad", "train")  # MLQA trains on SQuAD
    # pretraining: a masked-LM model at every position, 1,000 steps x 32 blocks of 64 tokens, vocab 1,500
    pre = rows["pretrain_teacher/mono"]
    assert pre.trained == 1000 * 32 * 3 * flops.encoder_flops(4, 128, 64, 1)
    assert pre.terms == 1000 * 32 * 3 * (2 * 64 * 128 * (128 + 1500))


def test_throughput_path_from_a_small_record(capsys, tmp_path):
    step = flops.distill_step_flops(12, 768, 6, 384, 256, 8, relations=2)
    record = {"benchmark": "distill_step", "variant": "ours", "device": "NVIDIA H100 80GB HBM3", "batch": 8,
              "seq_len": 256, "tokens_per_s": 50_000.0, "flops_per_step": step, "teacher": "12x768",
              "student": "6x384"}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"records": [{**record, "variant": "baseline", "tokens_per_s": 1.0}, record]}))
    rate = cost.throughput_rate(str(path), "h100")
    per_token = step / (8 * 256)
    assert rate.flops_per_s == pytest.approx(50_000 * per_token)
    rc, out, _ = _run(capsys, "--throughput", str(path), "--device", "h100", "--gpus", "2",
                      "--stage", "distill/mono/ta")
    assert rc == 0 and "measured 50,000 tokens/s" in out and "scaled by FLOPs per token" in out
    row = _rows(SMOKE)["distill/mono/ta"]
    row_tps = 50_000 * per_token / (row.flops / row.tokens)  # tokens/s scaled by FLOPs per token
    fields = _table_line(out, "distill/mono/ta")
    assert float(fields[10].replace(",", "")) == pytest.approx(row_tps, abs=0.5)
    hours = row.tokens / row_tps / 3600  # printed to 2 significant digits
    assert float(fields[11]) == pytest.approx(hours, rel=0.06)
    assert float(fields[12]) == pytest.approx(hours / 2, rel=0.06)
    # measured elsewhere, or ambiguous
    rc, _, err = _run(capsys, "--throughput", str(path), "--device", "a100")
    assert rc == 2 and "measured on 'NVIDIA H100 80GB HBM3', not on --device 'a100'" in err
    path.write_text(json.dumps({"records": [record, record]}))
    with pytest.raises(cost.CostError, match="found 2"):
        cost.throughput_rate(str(path))


def test_unknown_device_is_one_line_naming_the_known(capsys):
    rc, out, err = _run(capsys, "--device", "h900")
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: unknown device 'h900'")
    for known in flops.known_devices():
        assert known in err
    rc, _, err = _run(capsys, "--device", "cpu")  # no peak: only --throughput can cost a CPU
    assert rc == 2 and "unknown device 'cpu'" in err and "--throughput" in err


def test_config_without_the_named_stage_is_one_line(capsys):
    rc, out, err = _run(capsys, "--configfile", PAPER, "--device", "h100", "--stage", "pretrain_teacher")
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "no stage 'pretrain_teacher' in the plan of profile 'paper-mono'" in err
    assert "distill (23)" in err and "pretrain_scratch (1)" in err
    rc, out, _ = _run(capsys, "--configfile", PAPER, "--device", "h100", "--stage", "distill")
    assert rc == 0 and len([ln for ln in out.splitlines() if ln.startswith("distill/")]) == 23


def test_constants_match_the_modules_they_mirror():
    from minilm_repro.data.layout import split_path
    from minilm_repro.distill.losses import V1_PARTS, V2_PARTS
    from minilm_repro.distill.methods import DEFAULT_MLM_PROBABILITY

    assert cost.RELATIONS == {"minilm": V1_PARTS, "minilmv2": V2_PARTS}
    assert set(cost.PROJECTIONS) == set(V1_PARTS + V2_PARTS)
    assert cost.MLM_PROBABILITY == DEFAULT_MLM_PROBABILITY
    assert str(split_path("root", "rte", "default", "train")) == str(Path("root") / "rte" / "default" / "train.parquet")


# ---- every method's count against torch's FLOP counter (tiny models, CPU) ----------------------
V, S, B = 50, 8, 2


def _bert(layers, hidden, heads, intermediate, mlm=False):
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertModel

    cfg = BertConfig(vocab_size=V, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=intermediate, max_position_embeddings=16, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, attn_implementation="eager")
    torch.manual_seed(0)
    return BertForMaskedLM(cfg) if mlm else BertModel(cfg, add_pooling_layer=False)


def _counted_step(loss_module, **batch) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        loss_module(**batch)[0].backward()
    return counter.get_total_flops()


@pytest.mark.parametrize("method,settings,kwargs", [
    ("minilm", {}, {}),
    ("minilm", {"relations": ["attention"]}, {"relations": ("attention",)}),  # the student's V gets no backward
    ("minilmv2", {"relations": ["value"]}, {"relations": ("value",), "relation_heads": 4}),
    ("minilm", {"layer_map": [["2 of 3", "1 of 2"], ["3 of 3", "2 of 2"]]}, {"layer_map": [(1, 0), (2, 1)]}),
    ("minilmv2", {"teacher_layer": "2 of 3"}, {"teacher_layer": 1, "relation_heads": 4}),
    ("value_mse", {}, {}),
    ("tinybert", {}, {}),
    ("mlm_kd", {"mlm_probability": 0.25}, {}),
])
def test_distill_flops_equal_torchs_flop_counter(method, settings, kwargs):
    import torch

    from minilm_repro.distill import (
        DistillationLoss,
        MLMKDLoss,
        TinyBERTLoss,
        ValueMSELoss,
    )

    mlm = method == "mlm_kd"
    teacher = _bert(3, 16, 4, 64, mlm=mlm).eval()
    student = _bert(2, 8, 4, 24, mlm=mlm).train()
    for p in teacher.parameters():
        p.requires_grad_(False)
    ids = torch.randint(5, V, (B, S))
    batch = {"input_ids": ids, "attention_mask": torch.ones(B, S, dtype=torch.long)}
    if method in ("minilm", "minilmv2"):
        loss = DistillationLoss(teacher, student, method=method, **kwargs)
    elif method == "value_mse":
        loss = ValueMSELoss(teacher, student)
    elif method == "tinybert":
        loss = TinyBERTLoss(teacher, student)
    else:
        loss = MLMKDLoss(teacher, student)
        labels = torch.full((B, S), -100)
        labels[:, [1, 5]] = ids[:, [1, 5]]  # 0.25 x 8 = 2 masked positions per sequence
        batch["labels"] = labels
    t_fwd, s_train, terms, _ = cost.distill_flops({"method": method, **settings}, cost.Shape(3, 16, 64, V),
                                                  cost.Shape(2, 8, 24, V), S)
    assert _counted_step(loss, **batch) == B * (t_fwd + s_train + terms)
