"""Projected compute of a config's jobs: tokens, FLOPs and GPU-hours per stage (``minilm-repro plan --cost``).

Counts are :mod:`minilm_repro.plan.flops`'s (matrix multiplications only, 2 FLOPs per multiply-add,
backward = 2 x forward) applied to the planner's jobs (:class:`minilm_repro.plan.planner.Plan`), every
sequence at full length (padding positions are computed too):

* ``distill``: steps x global batch sequences of the corpus's ``max_seq_len``; per sequence the
  teacher's forward (no gradient), the student's forward + backward and the method's loss terms
  (:func:`distill_flops`);
* ``pretrain_teacher`` / ``pretrain_scratch`` (masked-LM pretraining of tiny teachers and of the
  scratch baseline): steps x global batch sequences of ``max_seq_len`` through an ``*ForMaskedLM``
  model, forward + backward, its MLM head (H -> H -> vocabulary) at every position, as HF computes it;
* ``finetune``: every job of the sweep (model x task x lr x epochs x seed): epochs x training
  examples sequences of the task's ``max_length`` (an upper bound: batches are padded to their
  longest sequence only; or a stated mean length), encoder forward + backward (the task heads,
  H -> a few classes, are left out).

Not counted: evaluation and prediction, the speed benchmark, tokenisation and corpus preparation,
optimiser updates (no matmuls), embeddings, norms, softmax (about 1 %, see flops.py).

Hours: FLOPs / (achieved FLOP/s of one device) / 3600 = GPU-hours; wall hours on G devices:
GPU-hours / G (perfect data-parallel scaling, no device idle). The achieved FLOP/s is either a
stated MFU times the device's dense bf16 peak (:data:`minilm_repro.plan.flops.PEAK_TFLOPS`), or what a
``benchmarks/bench_distill_step.py --out`` record measured: its tokens/s x its FLOPs per token.
Other shapes are assumed to run at that same FLOP/s (their tokens/s is the record's, scaled by
the ratio of FLOPs per token), which a small model's lower utilisation makes optimistic.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from minilm_repro.plan import flops as F

# Training-set sizes used when a task's data is not on disk (examples; QA: questions). GLUE: the
# train splits of nyu-mll/glue (the GLUE paper, Wang et al. 2019, Table 1, gives them rounded:
# 393k, 364k, 105k, 67k, 8.5k, 7k [5.7k STS-B], 3.7k, 2.5k); SQuAD 2.0: Rajpurkar et al. 2018,
# Table 2 (130,319 train questions; rajpurkar/squad_v2 train); SQuAD 1.1: Rajpurkar et al. 2016
# (87,599; rajpurkar/squad train), MLQA's training set; XNLI trains on English MultiNLI
# (Conneau et al. 2018; facebook/xnli "en" train = MNLI's 392,702).
PUBLISHED_TRAIN_SIZES = {
    "mnli": 392_702, "qqp": 363_846, "qnli": 104_743, "sst2": 67_349, "cola": 8_551, "stsb": 5_749,
    "mrpc": 3_668, "rte": 2_490, "squad_v2": 130_319, "squad": 87_599, "xnli": 392_702,
}
PUBLISHED_SOURCE = {**{t: "GLUE train split" for t in ("mnli", "qqp", "qnli", "sst2", "cola", "stsb", "mrpc", "rte")},
                    "squad_v2": "SQuAD 2.0 train questions", "squad": "SQuAD 1.1 train questions",
                    "xnli": "XNLI trains on MultiNLI"}
# relation terms per layer pair (minilm_repro.distill.losses.V1_PARTS / V2_PARTS; not imported: torch),
# and the projections each relation reads
RELATIONS = {"minilm": ("attention", "value"), "minilmv2": ("query", "key", "value")}
PROJECTIONS = {"attention": "qk", "value": "v", "query": "q", "key": "k"}
MLM_PROBABILITY = 0.15  # minilm_repro.distill.methods.DEFAULT_MLM_PROBABILITY (mlm_kd's masking rate)


class CostError(ValueError):
    """A config or device the cost cannot be projected for (one line, for the command's error)."""


@dataclasses.dataclass(frozen=True)
class Shape:
    """An encoder: ``layers`` x ``hidden``, feed-forward width ``intermediate``, ``vocab`` tokens."""

    layers: int
    hidden: int
    intermediate: int
    vocab: int

    def __str__(self) -> str:
        return f"{self.layers}x{self.hidden}"


def student_shape(layers: int, hidden: int, vocab: int) -> Shape:
    """A student or assistant: intermediate 4 x hidden, its teacher's vocabulary (models/build.py)."""
    return Shape(layers, hidden, 4 * hidden, vocab)


# hub teachers, from each model's config.json on the hub (keyed by the id's last component)
HUB_SHAPES = {
    "bert-base-uncased": Shape(12, 768, 3072, 30522),
    "bert-large-uncased": Shape(24, 1024, 4096, 30522),
    "roberta-large": Shape(24, 1024, 4096, 50265),
    "xlm-roberta-base": Shape(12, 768, 3072, 250002),
    "xlm-roberta-large": Shape(24, 1024, 4096, 250002),
}


@dataclasses.dataclass
class Row:
    """One stage of the table. Token counts are sequences x positions; the FLOP columns sum to ``flops``."""

    name: str  # distill/<track>/<model>, pretrain_teacher/<track>, pretrain_scratch/<track>, finetune/<track>/<task>
    jobs: int
    model: str  # the shapes involved, e.g. 12x768->6x768
    seq_len: int  # positions per sequence
    tokens: float
    teacher: float = 0.0  # FLOPs of the teacher's forward
    trained: float = 0.0  # FLOPs of the trained model's forward + backward (layers only)
    terms: float = 0.0  # FLOPs of the loss terms (relations, projections, MLM heads), forward + backward
    what: str = ""  # what the terms are, or the fine-tuning data
    examples: int = 0  # finetune: training sequences per epoch

    @property
    def flops(self) -> float:
        return self.teacher + self.trained + self.terms

    @property
    def kind(self) -> str:
        return self.name.split("/")[0]


# ---- shapes ------------------------------------------------------------------------------------
def _config_json(model_dir: str) -> Shape | None:
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        return None
    c = json.loads(path.read_text())
    return Shape(c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"], c["vocab_size"])


def _hub_shape(hub_id: str) -> Shape | None:
    return HUB_SHAPES.get(hub_id.split("/")[-1])


def model_shapes(plan, t: str) -> dict[str, Shape]:
    """The shape of every model of track ``t`` that has one here: the teacher (its arch, a config.json
    on disk, or :data:`HUB_SHAPES`), students, the scratch baseline, externals (on disk or known)."""
    tr = plan.track(t)
    teacher = tr["teacher"]
    if "pretrain" in teacher:
        arch = teacher["pretrain"]["arch"]
        vocab = (tr["tokenizer"].get("train") or {}).get("vocab_size")
        if vocab is None:
            raise CostError(f"tracks.{t}: a pretrained teacher needs a trained tokenizer (its vocab_size)")
        shapes = {"teacher": Shape(arch["layers"], arch["hidden"], arch.get("intermediate") or 4 * arch["hidden"],
                                   vocab)}
    else:
        found = _config_json(plan.model_dir(t, "teacher")) or _hub_shape(teacher["hub"]["id"])
        if found is None:
            raise CostError(f"tracks.{t}.teacher {teacher['hub']['id']!r}: shape unknown (no config.json at "
                            f"{plan.model_dir(t, 'teacher')}, not in minilm_repro.plan.cost.HUB_SHAPES)")
        shapes = {"teacher": found}
    students = plan.students(t)

    def shape_of(name: str) -> Shape:
        if name not in shapes:
            spec = students[name]
            shapes[name] = student_shape(spec["shape"]["layers"], spec["shape"]["hidden"],
                                         shape_of(spec["teacher"]).vocab)
        return shapes[name]

    for name in students:
        shape_of(name)
    if "scratch" in tr:
        like = shapes[tr["scratch"]["like"]]
        shapes["scratch"] = student_shape(like.layers, like.hidden, shapes["teacher"].vocab)
    for name, ext in plan.externals(t).items():
        found = _config_json(plan.model_dir(t, name)) or ("hub" in ext and _hub_shape(ext["hub"]["id"])) or None
        if found:
            shapes[name] = found
    return shapes


# ---- FLOPs per sequence ------------------------------------------------------------------------
def _depth(ref, n: int, where: str) -> int:
    """1-based layer of a layer reference ("K of N", "last", or a list index)."""
    from minilm_repro.models.layers import layer_index

    return layer_index(ref, n, where) + 1


def _layer_pairs(settings: dict, teacher: Shape, student: Shape, default: list) -> list[tuple[int, int]]:
    """The (teacher, student) layer pairs, 1-based: the job's ``layer_map``, else ``default``."""
    return [(_depth(t, teacher.layers, "layer_map teacher"), _depth(s, student.layers, "layer_map student"))
            for t, s in settings.get("layer_map") or ()] or default


def distill_flops(settings: dict, teacher: Shape, student: Shape, seq_len: int) -> tuple[float, float, float, str]:
    """(teacher forward, student forward + backward, loss terms) FLOPs of one sequence of ``seq_len``
    positions under a distill job's ``settings``, and what the terms are.

    * minilm / minilmv2: both forwards stop at the Q, K, V of the deepest captured layer (a student
      projection there that no relation reads, e.g. V without the value relation, gets no
      backward); the terms are the relation matrices (2 S² H each, any head count): the teacher's,
      and the student's at 3 x (forward plus the two gradient matmuls), one per relation (2 or 3,
      or ``relations``) and layer pair (``layer_map``);
    * value_mse: as minilm's attention term, plus the learnt projection H_s -> H_t of the student's
      values (trained: 3 x);
    * tinybert: both models run in full (hidden states of every layer); terms per layer pair: the
      attention maps Q Kᵀ (teacher forward, student 3 x), the shared hidden projection per student
      layer and the embedding projection (3 x each);
    * mlm_kd: both models run in full; terms: the MLM heads (H -> H -> vocabulary) at the masked
      positions only (``mlm_probability`` of them, 0.15 by default), the student's 3 x.
    """
    method = settings.get("method", "minilm")
    S, Ht, Hs = seq_len, teacher.hidden, student.hidden
    full_teacher = F.encoder_flops(teacher.layers, Ht, S, 1, intermediate=teacher.intermediate)
    full_student = F.training_flops(F.encoder_flops(student.layers, Hs, S, 1, intermediate=student.intermediate))
    if method in RELATIONS or method == "value_mse":
        pairs = _layer_pairs(settings, teacher, student, [
            (_depth(settings.get("teacher_layer", -1), teacher.layers, "teacher_layer"),
             _depth(settings.get("student_layer", -1), student.layers, "student_layer"))])
        # value_mse reads Q, K (attention KL) and V (its MSE), like minilm's two relations
        parts = settings.get("relations") or RELATIONS.get(method, ("attention", "value"))
        t_fwd = F.capture_flops(max(t for t, _ in pairs), Ht, S, teacher.intermediate)
        s_train = F.training_flops(F.capture_flops(max(s for _, s in pairs), Hs, S, student.intermediate))
        # a projection of the deepest student layer that no relation reads gets no backward (2 of its 3 x)
        unused = 3 - len(set("".join(PROJECTIONS[p] for p in parts)))
        s_train -= unused * 2 * F.linear_flops(S, Hs, Hs)
        n = len(pairs) * (1 if method == "value_mse" else len(parts))
        terms = n * F.relation_flops(Ht, S) + F.training_flops(n * F.relation_flops(Hs, S))
        if method == "value_mse":
            return t_fwd, s_train, terms + F.training_flops(F.linear_flops(S, Hs, Ht)), \
                "attention KL + value MSE (projection)"
        pair_text = f" x {len(pairs)} layer pairs" if len(pairs) > 1 else ""
        return t_fwd, s_train, terms, f"relation KL: {' + '.join(parts)}{pair_text}"
    if method == "tinybert":
        # default: distill.baselines.uniform_layer_map, 1-based
        pairs = _layer_pairs(settings, teacher, student,
                             [(m * teacher.layers // student.layers, m) for m in range(1, student.layers + 1)])
        hidden_layers = len({s for _, s in pairs})
        terms = len(pairs) * (F.relation_flops(Ht, S) + F.training_flops(F.relation_flops(Hs, S))) \
            + (hidden_layers + 1) * F.training_flops(F.linear_flops(S, Hs, Ht))
        return full_teacher, full_student, terms, \
            f"{len(pairs)} attention MSE + {hidden_layers} hidden MSE + embedding MSE"
    if method == "mlm_kd":
        p = settings.get("mlm_probability") or MLM_PROBABILITY
        masked = p * S
        terms = F.mlm_head_flops(Ht, teacher.vocab, masked) \
            + F.training_flops(F.mlm_head_flops(Hs, student.vocab, masked))
        return full_teacher, full_student, terms, f"MLM-KD logits over {teacher.vocab:,} tokens at {p:.0%} of positions"
    raise CostError(f"distill method {method!r}: no FLOP count for it")


# ---- stages ------------------------------------------------------------------------------------
def distill_row(plan, job, shapes: dict[str, Shape]) -> Row:
    t, name = dict(job.wildcards)["track"], dict(job.wildcards)["model"]
    teacher, student = shapes[job.paths["teacher_name"]], shapes[name]
    S = plan.track(t)["corpus"]["max_seq_len"]
    sequences = job.settings["optim"]["steps"] * job.settings["optim"]["batch_size"]
    t_fwd, s_train, terms, what = distill_flops(job.settings, teacher, student, S)
    return Row(job.id, 1, f"{teacher}->{student}", S, sequences * S, sequences * t_fwd, sequences * s_train,
               sequences * terms, what)


def pretrain_row(plan, job, shapes: dict[str, Shape]) -> Row:
    t = dict(job.wildcards)["track"]
    shape = shapes["teacher" if job.rule == "pretrain_teacher" else "scratch"]
    S = plan.track(t)["corpus"]["max_seq_len"]
    sequences = job.settings["optim"]["steps"] * job.settings["optim"]["batch_size"]
    layers = F.training_flops(F.encoder_flops(shape.layers, shape.hidden, S, 1, intermediate=shape.intermediate))
    head = F.training_flops(F.mlm_head_flops(shape.hidden, shape.vocab, S))
    return Row(job.id, 1, str(shape), S, sequences * S, 0.0, sequences * layers, sequences * head,
               f"MLM head over {shape.vocab:,} tokens at every position")


def train_examples(plan, t: str, task: str) -> tuple[int, str]:
    """(training sequences of ``task``, where the count comes from): its tokenised features on disk,
    else its training split on disk, else the generated benchmark's configured size, else
    :data:`PUBLISHED_TRAIN_SIZES` (an assumption)."""
    from minilm_repro.config import parse_stage_config
    from minilm_repro.finetune.features import FeaturesConfig
    from minilm_repro.finetune.plan import task_plan

    manifest = Path(plan.features_dir(t, task)) / "manifest.json"
    if manifest.is_file():
        return json.loads(manifest.read_text())["train_features"], f"features on disk ({manifest})"
    fs = parse_stage_config(FeaturesConfig, plan.features_settings(task), f"features of {task}")
    ref = task_plan(task, fs.languages, fs.train_language, fs.cross_language, fs.train_task).train
    split = Path(plan.tasks_root) / ref.task / ref.config / f"{ref.split}.parquet"  # data.layout.split_path
    if split.is_file():
        import pyarrow.parquet as pq

        return pq.read_metadata(split).num_rows, f"on disk ({split})"
    if plan.config["tasks_root"] == "generated":
        from minilm_repro.data.synthetic import SyntheticConfig

        return SyntheticConfig.from_dict(plan.config.get("benchmark", {})).size(ref.task, ref.split), \
            "generated benchmark's configured size"
    return PUBLISHED_TRAIN_SIZES[ref.task], f"assumed: {PUBLISHED_SOURCE[ref.task]}"


def parse_mean_lengths(text: str | None) -> dict[str, int]:
    """``"64"`` (every task) or ``"mnli=40,squad_v2=384"`` (those tasks) -> {task or "*": tokens}."""
    out: dict[str, int] = {}
    for item in (text or "").split(","):
        if item.strip():
            task, _, n = item.rpartition("=")
            if not n.strip().isdigit() or int(n) < 1:
                raise CostError(f"--finetune-mean-length: {item!r} is not TOKENS or TASK=TOKENS (a positive integer)")
            out[task.strip() or "*"] = int(n)
    return out


def finetune_rows(plan, t: str, shapes: dict[str, Shape], mean_lengths: dict[str, int] | None = None
                  ) -> tuple[list[Row], list[str]]:
    """One row per task of track ``t``: all its fine-tuning jobs (models x lr x epochs x seeds), each
    epochs x training examples sequences of the task's max_length, or of a stated mean length
    (``mean_lengths``: {task or "*": tokens}, capped at max_length). Also the notes: jobs left out
    (a model without a known shape)."""
    mean_lengths = mean_lengths or {}
    rows: dict[str, Row] = {}
    models: dict[str, set] = {}
    skipped: dict[str, int] = {}
    for job in plan.of_rule("finetune"):
        w = dict(job.wildcards)
        if w["track"] != t:
            continue
        task, model = w["task"], w["model"]
        if model not in shapes:
            skipped[model] = skipped.get(model, 0) + 1
            continue
        shape = shapes[model]
        if task not in rows:
            max_length = plan.features_settings(task)["max_length"]
            mean = mean_lengths.get(task, mean_lengths.get("*"))
            S = min(mean, max_length) if mean else max_length
            examples, source = train_examples(plan, t, task)
            rows[task] = Row(f"finetune/{t}/{task}", 0, "", S, 0.0, what=f"{examples:,} examples ({source})",
                             examples=examples)
            models[task] = set()
        row = rows[task]
        sequences = job.settings["epochs"] * row.examples
        row.jobs += 1
        row.tokens += sequences * row.seq_len
        row.trained += sequences * F.training_flops(
            F.encoder_flops(shape.layers, shape.hidden, row.seq_len, 1, intermediate=shape.intermediate))
        models[task].add(model)
    for task, row in rows.items():
        row.model = f"{len(models[task])} models" if len(models[task]) > 1 else str(shapes[next(iter(models[task]))])
    notes = [f"not counted: {n} fine-tuning jobs of {m} (shape unknown: not on disk, not in cost.HUB_SHAPES)"
             for m, n in skipped.items()]
    return list(rows.values()), notes


def stage_rows(plan, mean_lengths: dict[str, int] | None = None) -> tuple[list[Row], list[str]]:
    """Every costed stage of ``plan`` (pretraining, distillation, fine-tuning per task), and notes."""
    rows, notes = [], []
    for t in plan.tracks:
        shapes = model_shapes(plan, t)
        for job in plan.jobs.values():
            if dict(job.wildcards).get("track") != t:
                continue
            if job.rule in ("pretrain_teacher", "pretrain_scratch"):
                rows.append(pretrain_row(plan, job, shapes))
            elif job.rule == "distill":
                rows.append(distill_row(plan, job, shapes))
        ft, ft_notes = finetune_rows(plan, t, shapes, mean_lengths)
        rows += ft
        notes += ft_notes
    return rows, notes


def select(rows: list[Row], stage: str | None, profile: str) -> list[Row]:
    """The rows named ``stage`` (a row's name or a prefix of it at a '/', e.g. ``distill``, ``finetune/mono``)."""
    if not stage:
        return rows
    chosen = [r for r in rows if r.name == stage or r.name.startswith(stage.rstrip("/") + "/")]
    if not chosen:
        kinds: dict[str, int] = {}
        for r in rows:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        have = ", ".join(f"{k} ({n})" for k, n in kinds.items())
        raise CostError(f"no stage {stage!r} in the plan of profile {profile!r}; its stages (rows): {have}; "
                        f"name one, or a row, e.g. {rows[0].name if rows else '-'}")
    return chosen


# ---- devices -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Rate:
    """Achieved FLOP/s of one device, and where the figure comes from."""

    flops_per_s: float
    device: str
    how: str


def mfu_rate(device: str, mfu: float) -> Rate:
    """``mfu`` (0 < mfu <= 1) of the dense bf16 (fp16 without bf16) peak of ``device`` (flops.PEAK_TFLOPS)."""
    if not 0 < mfu <= 1:
        raise CostError(f"--mfu must be in (0, 1], got {mfu}")
    peak, row = F.peak_tflops(device)
    if peak is None:
        raise CostError(f"unknown device {device!r}: no dense bf16 peak for it in minilm_repro.plan.flops.PEAK_TFLOPS; "
                        f"known: {', '.join(F.known_devices())} (or give --throughput measured on it)")
    return Rate(mfu * peak * 1e12, row.split(",")[0],
                f"MFU {mfu:.2f} x {peak:g} TFLOP/s ({row}, dense) = {mfu * peak:.1f} TFLOP/s per device")


def _same_device(asked: str, measured: str) -> bool:
    if asked.lower() in measured.lower():
        return True
    a, m = F.peak_tflops(asked), F.peak_tflops(measured)
    return a[0] is not None and a == m


def throughput_rate(path: str, device: str | None = None) -> Rate:
    """The FLOP/s per device of the one ``ours`` record of a ``bench_distill_step.py --out`` file:
    its tokens/s x its FLOPs per token (flops_per_step / (batch x seq_len)). ``device`` (when given)
    must be the record's."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CostError(f"--throughput {path}: cannot read a JSON record ({exc})") from None
    records = data.get("records", [data]) if isinstance(data, dict) else data
    ours = [r for r in records if isinstance(r, dict) and r.get("variant", "ours") == "ours"]
    if len(ours) != 1:
        raise CostError(f"--throughput {path}: expected one record of variant 'ours' "
                        f"(bench_distill_step.py --out), found {len(ours)}")
    r = ours[0]
    missing = [k for k in ("tokens_per_s", "flops_per_step", "batch", "seq_len", "device") if k not in r]
    if missing:
        raise CostError(f"--throughput {path}: the record lacks {', '.join(missing)}")
    if device and not _same_device(device, r["device"]):
        raise CostError(f"--throughput {path} was measured on {r['device']!r}, not on --device {device!r}")
    per_token = r["flops_per_step"] / (r["batch"] * r["seq_len"])
    rate = r["tokens_per_s"] * per_token
    shape = f"{r.get('teacher', '?')}->{r.get('student', '?')}"
    return Rate(rate, device or r["device"],
                f"measured {r['tokens_per_s']:,.0f} tokens/s per device on {r['device']} ({shape} distill step, batch "
                f"{r['batch']}, seq {r['seq_len']}; {per_token:.3g} FLOPs/token) = {rate / 1e12:.3g} TFLOP/s; other "
                "stages at that FLOP/s (their tokens/s scaled by FLOPs per token)")


def gpu_hours(flops: float, rate: Rate) -> float:
    """Device-hours for ``flops`` FLOPs at ``rate``."""
    return flops / rate.flops_per_s / 3600


# ---- the table ---------------------------------------------------------------------------------
def _hours(h: float) -> str:
    return f"{h:,.1f}" if h >= 1 else f"{h:.2g}"


def _num(x: float) -> str:
    return f"{x:10.2e}" if x else f"{'-':>10}"


def table(rows: list[Row], rate: Rate, gpus: int) -> str:
    """The per-stage table with subtotals per stage kind and a total; hours on ``rate`` devices."""
    head = (f"{'stage':<34}{'jobs':>6}  {'model':<15}{'seq':>5}{'tokens':>10}{'FLOP/tok':>10}{'teacher':>10}"
            f"{'trained':>10}{'terms':>10}{'FLOPs':>10}{'tok/s/dev':>13}{'GPU-h':>10}{'wall-h':>9}  terms / data")
    lines = [head, "-" * len(head)]

    def line(name, jobs, model, seq, tokens, teacher, trained, terms, what=""):
        total = teacher + trained + terms
        per_token = total / tokens if tokens else 0.0
        tps = f"{rate.flops_per_s / per_token:13,.0f}" if per_token else f"{'':13}"
        h = gpu_hours(total, rate)
        return (f"{name:<34}{jobs:>6}  {model:<15}{seq:>5}{_num(tokens)}{_num(per_token)}{_num(teacher)}"
                f"{_num(trained)}{_num(terms)}{_num(total)}{tps}{_hours(h):>10}{_hours(h / gpus):>9}  {what}").rstrip()

    def subtotal(name, rs):
        return line(name, sum(r.jobs for r in rs), "", "", sum(r.tokens for r in rs), sum(r.teacher for r in rs),
                    sum(r.trained for r in rs), sum(r.terms for r in rs))

    for r in rows:
        lines.append(line(r.name, r.jobs, r.model, r.seq_len, r.tokens, r.teacher, r.trained, r.terms, r.what))
    lines.append("-" * len(head))
    kinds = list(dict.fromkeys(r.kind for r in rows))
    if len(kinds) > 1:
        lines += [subtotal(f"total {k}", [r for r in rows if r.kind == k]) for k in kinds]
    lines.append(subtotal("total", rows))
    return "\n".join(lines)


def report(plan, rate: Rate, gpus: int = 1, stage: str | None = None,
           mean_lengths: dict[str, int] | None = None) -> str:
    """What ``minilm-repro plan --cost`` prints: header, table, assumptions."""
    rows, notes = stage_rows(plan, mean_lengths)
    rows = select(rows, stage, plan.profile)
    assumed = [r for r in rows if r.kind == "finetune" and "assumed" in r.what]
    stated = ", ".join(f"{'every task' if k == '*' else k} {n}" for k, n in (mean_lengths or {}).items())
    length = (f"fine-tuning at stated mean lengths ({stated} tokens; capped at max_length, other tasks at max_length)"
              if stated else "fine-tuning: every example at its task's max_length (an upper bound: batches are "
                             "padded to their longest sequence only)")
    out = [f"cost of profile {plan.profile} on {gpus} x {rate.device}: {rate.how}",
           ("FLOPs: matmuls only, 2 per multiply-add, backward = 2 x forward (minilm_repro.plan.flops); tokens = sequences "
            "x positions, padding included; GPU-h = FLOPs / FLOP/s per device / 3600; "
            f"wall-h = GPU-h / {gpus} (perfect scaling)"),
           (f"sequence lengths: pretraining and distillation at the corpus max_seq_len; {length}; QA: one window per "
            "example unless features are on disk"), "", table(rows, rate, gpus), ""]
    if assumed:
        out.append("training-set sizes assumed (data not on disk; published sizes, sources in minilm_repro/plan/cost.py): "
                   + ", ".join(f"{r.name.split('/')[-1]} {r.examples:,}" for r in assumed))
    out += notes
    out.append("not counted: evaluation, the speed benchmark, tokenisation, corpus preparation, optimiser updates")
    return "\n".join(out)
