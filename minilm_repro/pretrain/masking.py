"""Masked-LM masks drawn per example from (seed, epoch, row): a resumed run masks as an uninterrupted one.

HF's ``DataCollatorForLanguageModeling`` draws masks from one generator as batches are collated
(its own with ``seed``, else torch's). The Trainer's checkpoints do not hold that generator, and
a resumed dataloader collates in another order relative to the restored RNG (it skips trained
batches without collating them and prefetches one ahead), so after a resume the masks, and then
the weights, leave those of an uninterrupted run. Here each example's mask comes from its own
generator, seeded with (seed, epoch, row of the example in its dataset): the same example in the
same epoch gets the same mask whatever ran before, in any process, on any number of ranks.

Evaluation masks depend on (seed, row) only: the same masks at every evaluation and in every run
with the same seed and eval split, so eval losses compare across steps and runs.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

EVAL_STREAM = 0  # the seed-sequence word of evaluation masks; training epoch e uses e + 1


class RowIndexed(torch.utils.data.Dataset):
    """A ``datasets.Dataset`` of ``input_ids`` whose examples also carry their ``row`` (0-based)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, row: int) -> dict:
        return {"input_ids": self.dataset[row]["input_ids"], "row": row}

    def __getitems__(self, rows: list[int]) -> list[dict]:
        ids = self.dataset[rows]["input_ids"]
        return [{"input_ids": x, "row": r} for x, r in zip(ids, rows)]


class SeededMasking(TrainerCallback):
    """Collator (pads, masks) and TrainerCallback (follows the epoch) in one.

    Of the non-special tokens of an example, each is chosen with ``mlm_probability``; a chosen
    token becomes [MASK] (80%), a uniformly random token id (10%) or stays (10%), as in BERT.
    Labels are the original ids at chosen positions, -100 elsewhere and at padding.
    """

    def __init__(self, tokenizer, mlm_probability: float, seed: int):
        if tokenizer.mask_token_id is None:
            raise ValueError(f"tokenizer {type(tokenizer).__name__} has no mask token for masked-LM training")
        self.pad_id = tokenizer.pad_token_id
        self.mask_id = tokenizer.mask_token_id
        self.vocab = len(tokenizer)
        self.special = np.array(sorted(tokenizer.all_special_ids), dtype=np.int64)
        self.p = mlm_probability
        self.seed = seed % 2**63
        self.stream = EVAL_STREAM + 1  # epoch 0 until the Trainer says otherwise

    def on_epoch_begin(self, args, state, control, **kwargs):
        # the epoch's integer part: exact at epoch starts (epoch + n/n) and when resumed mid-epoch
        self.stream = int(state.epoch or 0) + 1

    def mask(self, input_ids, row: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
        """(masked input ids, labels) of one example."""
        ids = np.asarray(input_ids, dtype=np.int64)
        rng = np.random.default_rng([self.seed, stream, row])
        chosen = (rng.random(len(ids)) < self.p) & ~np.isin(ids, self.special)
        action = rng.random(len(ids))
        random_ids = rng.integers(self.vocab, size=len(ids))
        masked = ids.copy()
        masked[chosen & (action < 0.8)] = self.mask_id
        replace = chosen & (action >= 0.8) & (action < 0.9)
        masked[replace] = random_ids[replace]
        return masked, np.where(chosen, ids, -100)

    def collate(self, examples: list[dict], stream: int) -> dict:
        length = max(len(e["input_ids"]) for e in examples)
        input_ids = np.full((len(examples), length), self.pad_id, dtype=np.int64)
        labels = np.full((len(examples), length), -100, dtype=np.int64)
        attention = np.zeros((len(examples), length), dtype=np.int64)
        for i, e in enumerate(examples):
            masked, lab = self.mask(e["input_ids"], e["row"], stream)
            input_ids[i, :len(masked)], labels[i, :len(masked)], attention[i, :len(masked)] = masked, lab, 1
        return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention),
                "labels": torch.from_numpy(labels)}

    def __call__(self, examples: list[dict]) -> dict:
        return self.collate(examples, self.stream)


class MaskedLMTrainer(Trainer):
    """Trainer whose evaluation uses the fixed evaluation masks of its :class:`SeededMasking` collator."""

    def evaluate(self, *args, **kwargs):
        collator = self.data_collator
        training_stream = collator.stream
        collator.stream = EVAL_STREAM
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            collator.stream = training_stream
