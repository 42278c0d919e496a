"""Which process am I (``torchrun`` / ``accelerate launch`` set ``RANK`` and ``WORLD_SIZE``)?"""

from __future__ import annotations

import os
import sys


def world_size() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def warn(msg: str) -> None:
    if is_main():
        print(f"warning: {msg}", file=sys.stderr, flush=True)


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
