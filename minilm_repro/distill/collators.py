"""Data collators of the distillation methods."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling


class BatchSeededMLMCollator(DataCollatorForLanguageModeling):
    """``DataCollatorForLanguageModeling`` whose mask generator is seeded per batch from (seed, the batch's ids).

    The stock seeded collator draws every batch's masks from one generator that the Trainer does
    not checkpoint, so a resumed run masks its next batches differently from the uninterrupted
    run (and, under DDP, every rank draws the same mask positions). Here the masks are a function
    of ``seed`` and the batch's token ids: a resumed run re-creates the same batches, hence the
    same masks; ranks and accumulation steps see different batches, hence independent masks. Only
    a repeated identical batch gets repeated masks. Masking itself (rate ``mlm_probability``,
    80 % [MASK] / 10 % random / 10 % kept, labels -100 off the masked positions and at padding)
    is the parent's. Needs ``seed``.
    """

    def torch_call(self, examples):
        if self.seed is None:
            raise ValueError("BatchSeededMLMCollator needs a seed")
        digest = hashlib.sha256(str(self.seed).encode())
        for example in examples:
            ids = example["input_ids"] if isinstance(example, Mapping) else example
            digest.update(np.asarray(ids, dtype=np.int64).tobytes() + b"|")
        # the parent reuses a torch.Generator made in this process (it makes its own only in another one)
        self.generator = torch.Generator().manual_seed(int.from_bytes(digest.digest()[:8], "little") >> 1)
        self._generator_pid = os.getpid()
        return super().torch_call(examples)
