"""The progress bar of long work (on stderr, so stdout stays the command's result)."""

from __future__ import annotations

import sys


def progress_bar(total: int, desc: str, enabled: bool = True):
    """A tqdm bar of ``total`` steps; off with ``enabled=False`` (``--quiet``) and when stderr is
    not a terminal (tqdm's ``disable=None``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=None if enabled else True, leave=False,
                dynamic_ncols=True)
