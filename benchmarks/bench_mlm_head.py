"""One masked-LM training step: HF's full-vocabulary head vs the masked-positions-only head.

Both variants are the same randomly initialised BERT (``--layers`` x ``--hidden``, 30,522 words,
dropout 0) on the same batch and masks (15% of the positions), timed in this process one after
the other: forward + backward + AdamW step, ``--steps`` timed steps after 3 warm-up steps, median.
The baseline is ``AutoModelForMaskedLM`` as HF ships it (logits at every position); ``ours`` is
:func:`minilm_repro.models.masked_lm.masked_positions_only` (the pretrain stage's model). Before
timing, the two losses and gradients on the same weights are compared and their largest
difference printed. ``--out FILE`` writes a JSON record: hardware, versions, settings, median step
seconds of each, the ratio baseline / ours and the differences.

    python benchmarks/bench_mlm_head.py                       # 4x192, batch 16 x 64 tokens
    python benchmarks/bench_mlm_head.py --layers 12 --hidden 768 --batch 8 --seq-len 128 --out mlm_head.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time


def _models(layers: int, hidden: int, seq_len: int):
    import torch
    from transformers import AutoModelForMaskedLM, BertConfig

    from minilm_repro.models.masked_lm import masked_positions_only

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=hidden // 64
                     if hidden % 64 == 0 else 12, intermediate_size=4 * hidden, max_position_embeddings=seq_len,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    full = AutoModelForMaskedLM.from_config(cfg)
    return full, masked_positions_only(copy.deepcopy(full))


def _batch(batch: int, seq_len: int):
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 30000, (batch, seq_len), generator=g)
    labels = torch.where(torch.rand(batch, seq_len, generator=g) < 0.15, ids, -100)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def _differences(full, ours, inputs) -> dict:
    la, lb = full(**inputs).loss, ours(**inputs).loss
    la.backward()
    lb.backward()
    grad = max((a.grad - b.grad).abs().max().item() for a, b in zip(full.parameters(), ours.parameters())
               if a.grad is not None)
    full.zero_grad()
    ours.zero_grad()
    return {"loss_full": la.item(), "loss_ours": lb.item(), "max_grad_difference": grad}


def _step_seconds(model, inputs, steps: int) -> float:
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for i in range(3 + steps):
        t = time.perf_counter()
        model(**inputs).loss.backward()
        opt.step()
        opt.zero_grad()
        if i >= 3:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> dict:
    import torch
    import transformers

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", default=None, help="write the JSON record here")
    args = ap.parse_args(argv)
    full, ours = _models(args.layers, args.hidden, args.seq_len)
    inputs = _batch(args.batch, args.seq_len)
    diff = _differences(full, ours, inputs)
    full.train()
    ours.train()
    base, fast = _step_seconds(full, inputs, args.steps), _step_seconds(ours, inputs, args.steps)
    record = {"benchmark": "mlm_head", "settings": vars(args),
              "hardware": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "torch_threads": torch.get_num_threads(), "platform": platform.platform()},
              "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
              "step_seconds": {"baseline_full_head": base, "ours_masked_positions": fast},
              "ratio_baseline_over_ours": base / fast, **diff}
    print(f"{args.layers}x{args.hidden}, batch {args.batch} x {args.seq_len}: full head {base:.3f} s/step, "
          f"masked positions only {fast:.3f} s/step: {base / fast:.2f}x; loss {diff['loss_full']:.6f} vs "
          f"{diff['loss_ours']:.6f}, largest gradient difference {diff['max_grad_difference']:.2e}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=2)
    return record


if __name__ == "__main__":
    main()
