"""Where this process stands in a torchrun job (environment variables set by torchrun)."""

from __future__ import annotations

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or the only process: the one that logs and writes job outputs."""
    return int(os.environ.get("RANK", "0")) == 0
