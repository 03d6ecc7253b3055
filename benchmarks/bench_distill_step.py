"""One MiniLM distillation step: this implementation vs an ``output_attentions=True`` baseline.

BERT-base-size teacher (random weights, 12x768, 12 heads) -> 6x384 student (12 heads), one
step = student forward + backward + AdamW step (the teacher forward included). Each variant
runs in a fresh subprocess, so its peak memory (CPU: RSS, the ``resource.getrusage`` high-water
mark; CUDA: ``torch.cuda.max_memory_allocated``; model construction included) is its own:

* ``baseline``: eager attention in every layer, ``output_attentions=True`` and
  ``output_hidden_states=True`` for both models (value relation from the last layer's value
  projection of its input hidden states), full student forward, plain autograd KL, fp32;
* ``ours``: :class:`minilm_repro.distill.DistillationLoss`: SDPA everywhere, Q/K/V captured by
  hooks, both forwards stopped after the captured layer, fused chunked KL, teacher under
  ``--dtype`` autocast (student under ``--student-dtype``). The defaults (both bf16) are what the
  distill stage runs on a CPU with ``teacher_precision: bf16`` and ``optim.bf16: "yes"``.

A third subprocess (``check``) computes both losses and the student's gradients in fp32 on the
same weights and batch and prints their differences. Dropout is 0 in both models, so the two
variants see the same function (with attention dropout in train mode the baseline's maps would
be randomly zeroed).

``--device cuda`` runs everything on the first visible GPU. ``--out FILE`` writes a JSON record per variant:
device, precision, batch, sequence length, median step time (s), tokens/s (batch x sequence
length per step: padding positions are computed too), peak memory (MiB), the step's FLOPs and,
on a GPU of minilm_repro.plan.flops.PEAK_TFLOPS, MFU against its dense bf16/fp16 peak (else null,
with the reason). The FLOPs are those the MiniLM loss needs (minilm_repro.plan.flops.distill_step_flops),
the same for both variants: the baseline's extra work (full forwards, attention maps) is not
counted, so its MFU is its useful fraction.

    python benchmarks/bench_distill_step.py                  # batch 2, seq 512, CPU
    python benchmarks/bench_distill_step.py --batch 8
    python benchmarks/bench_distill_step.py --device cuda --batch 32 --out distill_step.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

DTYPES = {"fp32": None, "bf16": "bfloat16"}
TEACHER = dict(layers=12, hidden=768, heads=12, intermediate=3072)
STUDENT = dict(layers=6, hidden=384, heads=12, intermediate=1536)


def build_models(attn: str, device: str = "cpu", seed: int = 0):
    """Random BERT-base-size teacher (eval) and 6x384 student (train), dropout 0, on ``device``."""
    import torch
    from transformers import BertConfig, BertModel

    common = dict(vocab_size=30522, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                  attn_implementation=attn, max_position_embeddings=512)

    def config(shape):
        return BertConfig(hidden_size=shape["hidden"], num_hidden_layers=shape["layers"],
                          num_attention_heads=shape["heads"], intermediate_size=shape["intermediate"], **common)

    torch.manual_seed(seed)
    teacher = BertModel(config(TEACHER), add_pooling_layer=False).eval().to(device)
    student = BertModel(config(STUDENT), add_pooling_layer=False).train().to(device)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher, student


def step_flops(batch: int, seq_len: int) -> int:
    """FLOPs of one step of the MiniLM loss (teacher forward, student forward + backward, relations)."""
    from minilm_repro.plan.flops import distill_step_flops

    return distill_step_flops(TEACHER["layers"], TEACHER["hidden"], STUDENT["layers"], STUDENT["hidden"], seq_len,
                              batch, relations=2, teacher_intermediate=TEACHER["intermediate"],
                              student_intermediate=STUDENT["intermediate"])


def make_batch(batch: int, seq_len: int, seed: int = 1):
    """input_ids, attention_mask (batch, seq_len): example 0 full, the others of true length in [L/2, L]."""
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 30000, (batch, seq_len), generator=g)
    lengths = [seq_len] + torch.randint(seq_len // 2, seq_len + 1, (batch - 1,), generator=g).tolist()
    mask = (torch.arange(seq_len)[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


def baseline_loss(teacher, student, ids, mask):
    """The MiniLM loss from eager ``output_attentions`` maps: (loss, parts), same contract as ours."""
    import torch

    with torch.no_grad():
        t_out = teacher(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    s_out = student(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    keys, queries = mask.bool()[:, None, None, :], mask.float()[:, None, :, None]
    denom = student.config.num_attention_heads * mask.sum(1).float()

    def log_value_relation(model, hidden):
        heads = model.config.num_attention_heads
        v = model.encoder.layer[-1].attention.self.value(hidden)
        b, n, h = v.shape
        v = v.view(b, n, heads, h // heads).transpose(1, 2)
        scores = (v @ v.transpose(-1, -2)) / (h // heads) ** 0.5
        return torch.log_softmax(scores.masked_fill(~keys, torch.finfo(scores.dtype).min), -1)

    def kl(log_p, log_q):
        terms = torch.where(keys, log_p.exp() * (log_p - log_q), 0.0) * queries
        return (terms.sum(dim=(1, 2, 3)) / denom).mean()

    tiny = torch.finfo(torch.float32).tiny
    with torch.no_grad():
        t_att = t_out.attentions[-1].clamp_min(tiny).log()
        t_val = log_value_relation(teacher, t_out.hidden_states[-2])
    parts = {"attention": kl(t_att, s_out.attentions[-1].clamp_min(tiny).log()),
             "value": kl(t_val, log_value_relation(student, s_out.hidden_states[-2]))}
    return parts["attention"] + parts["value"], parts


def ours_module(teacher, student, teacher_dtype, student_dtype):
    import torch

    from minilm_repro.distill import DistillationLoss

    loss = DistillationLoss(teacher, student, teacher_autocast=teacher_dtype and getattr(torch, teacher_dtype))
    if student_dtype is None:
        return loss

    def step(ids, mask):
        with torch.autocast(ids.device.type, dtype=getattr(torch, student_dtype)):
            return loss(ids, mask)

    return step


def run_check(args) -> dict:
    """Both losses and student gradients in fp32, same weights and batch."""

    ids, mask = (t.to(args.device) for t in make_batch(args.batch, args.seq_len))
    teacher, student = build_models("eager", args.device)
    ref, ref_parts = baseline_loss(teacher, student, ids, mask)
    ref.backward()
    ref_grads = {n: p.grad.clone() for n, p in student.named_parameters() if p.grad is not None}
    student.zero_grad(set_to_none=True)
    teacher.set_attn_implementation("sdpa")
    student.set_attn_implementation("sdpa")
    loss, parts = ours_module(teacher, student, None, None)(ids, mask)
    loss.backward()
    grads = {n: p.grad for n, p in student.named_parameters() if p.grad is not None}
    # the baseline also back-propagates zeros through the student's last layer above the captured
    # projections; those parameters have no gradient in ours
    shared = sorted(set(grads) & set(ref_grads))
    extra = [n for n in ref_grads if n not in grads and ref_grads[n].abs().max() > 0]
    # relative to the largest baseline gradient: some entries (key biases) are 0 in exact arithmetic
    scale = max(float(ref_grads[n].abs().max()) for n in shared)
    grad_err = max(float((grads[n] - ref_grads[n]).abs().max()) for n in shared) / scale
    return {"variant": "check", "loss_ours": float(loss), "loss_baseline": float(ref),
            "abs_diff": abs(float(loss) - float(ref)),
            "part_diffs": {k: abs(float(parts[k]) - float(ref_parts[k])) for k in parts},
            "grad_max_rel_err": grad_err, "grad_params_compared": len(shared),
            "baseline_nonzero_grads_missing_in_ours": extra}


def run_timed(args) -> dict:
    import torch

    cuda = args.device == "cuda"
    ids, mask = (t.to(args.device) for t in make_batch(args.batch, args.seq_len))
    if args.variant == "baseline":
        teacher, student = build_models("eager", args.device)

        def step_loss():
            return baseline_loss(teacher, student, ids, mask)[0]
    else:
        teacher, student = build_models("sdpa", args.device)
        module = ours_module(teacher, student, DTYPES[args.dtype], DTYPES[args.student_dtype])

        def step_loss():
            return module(ids, mask)[0]
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    times, losses = [], []
    for i in range(args.warmup + args.steps):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = step_loss()
        loss.backward()
        opt.step()
        if cuda:
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
            losses.append(float(loss.detach()))
    # models and optimiser state included; CUDA: allocated tensors, CPU: the process's RSS
    peak_mb = torch.cuda.max_memory_allocated() / 2**20 if cuda else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"variant": args.variant, "step_s": sorted(times)[len(times) // 2], "step_times": times,
            "peak_memory_mb": peak_mb, "losses": losses}


def device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"cpu:{platform.processor() or platform.machine()}"


def child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device here (use --device cpu)")
    result = run_check(args) if args.variant == "check" else run_timed(args)
    result["device_name"] = device_name(args.device)
    print("RESULT " + json.dumps(result))


def spawn(variant: str, argv: list[str]) -> dict:
    cmd = [sys.executable, __file__, *argv, "--variant", variant]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{variant} subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):])


def records(args, results: dict, device: str) -> list[dict]:
    """One JSON record per variant (module docstring)."""
    from minilm_repro.plan.flops import mfu

    flops = step_flops(args.batch, args.seq_len)
    out = []
    for variant, res in results.items():
        precision = {"teacher": "fp32", "student": "fp32"} if variant == "baseline" else \
            {"teacher": args.dtype, "student": args.student_dtype}
        out.append({
            "benchmark": "distill_step", "variant": variant, "device": device, "precision": precision,
            "batch": args.batch, "seq_len": args.seq_len, "threads": args.threads,
            "teacher": "{layers}x{hidden}".format(**TEACHER), "student": "{layers}x{hidden}".format(**STUDENT),
            "step_s": res["step_s"], "step_times": res["step_times"],
            "tokens_per_s": args.batch * args.seq_len / res["step_s"],
            "peak_memory_mb": res["peak_memory_mb"],
            "peak_memory": "cuda max allocated" if args.device == "cuda" else "process RSS",
            "flops_per_step": flops, **mfu(flops, res["step_s"], device),
        })
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--steps", type=int, default=5, help="timed steps (the median is reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed first steps (kernel set-up)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16", help="autocast dtype of our teacher forward")
    p.add_argument("--student-dtype", choices=sorted(DTYPES), default="bf16",
                   help="autocast dtype of our student forward (relations stay fp32)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="subprocess runs per variant, alternating")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where both variants run")
    p.add_argument("--out", type=Path, default=None, help="write the JSON records here")
    p.add_argument("--variant", choices=("check", "baseline", "ours"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:
        return child(args)
    argv = sys.argv[1:]
    print(f"batch {args.batch}, seq len {args.seq_len}, {args.device} ({args.threads} threads), teacher 12x768 -> "
          f"student 6x384, ours: teacher {args.dtype}, student {args.student_dtype}; baseline fp32 eager "
          "output_attentions")
    check = spawn("check", argv)
    print(f"{check['device_name']}  fp32 loss: ours {check['loss_ours']:.8f}  baseline {check['loss_baseline']:.8f}  "
          f"|diff| {check['abs_diff']:.2e}  parts {json.dumps({k: f'{v:.1e}' for k, v in check['part_diffs'].items()})}  "
          f"student grad max rel err {check['grad_max_rel_err']:.1e} over {check['grad_params_compared']} tensors")
    if check["baseline_nonzero_grads_missing_in_ours"]:
        print("WARNING: baseline gradients missing in ours:", check["baseline_nonzero_grads_missing_in_ours"])
    # variants alternate over rounds (ABBA...), so load from other processes on a shared machine
    # falls on both alike
    runs: dict[str, list[dict]] = {"baseline": [], "ours": []}
    for r in range(args.rounds):
        for v in ("baseline", "ours") if r % 2 == 0 else ("ours", "baseline"):
            runs[v].append(spawn(v, argv))
    results = {}
    for v, rs in runs.items():
        times = [t for r in rs for t in r["step_times"]]
        results[v] = {"step_s": sorted(times)[len(times) // 2], "step_times": times,
                      "peak_memory_mb": max(r["peak_memory_mb"] for r in rs)}
        print(f"{v:9s} step {results[v]['step_s']:.3f} s (median of {len(times)} over {args.rounds} rounds: "
              f"{', '.join(f'{t:.2f}' for t in times)})  peak memory {results[v]['peak_memory_mb']:.0f} MB")
    b, o = results["baseline"], results["ours"]
    # other jobs on a shared machine only ever add time: the best step is the least disturbed figure
    summary = {"speedup_median": b["step_s"] / o["step_s"],
               "speedup_best_step": min(b["step_times"]) / min(o["step_times"]),
               "memory_ratio": o["peak_memory_mb"] / b["peak_memory_mb"]}
    print(f"speed-up {summary['speedup_median']:.2f}x by median, {summary['speedup_best_step']:.2f}x "
          f"by best step (target >= 1.5x)   memory ratio {summary['memory_ratio']:.2f}x (target <= 0.6x)")
    recs = records(args, results, check["device_name"])
    for rec in recs:
        mfu_text = f"MFU {rec['mfu']:.1%}" if rec["mfu"] is not None else f"MFU n/a ({rec['mfu_note']})"
        print(f"{rec['variant']:9s} {rec['tokens_per_s']:.0f} tokens/s, {rec['achieved_tflops']:.2f} TFLOP/s, {mfu_text}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"records": recs, "check": check, **summary}, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
