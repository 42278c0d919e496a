"""Shared test fixtures. Real data only: ../shared/data beside the checkout (never downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.offline import force_offline
from bundles import bundle_fp32, bundle_int8, export_root, student_dir  # noqa: F401 (session fixtures of the export tests)
from zh_encoder import zh_encoder  # noqa: F401 (a tiny Chinese BERT built from the data, tests/zh_encoder.py)

force_offline()

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BERT_OR_GPT_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: SST-2, AG News, SMS spam, CLINC150 (see its README)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.fail(f"shared data not found at {path}; set BERT_OR_GPT_SHARED")
    return path


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    path = SHARED / "seeds"
    if not path.is_dir():
        pytest.fail(f"seed documents not found at {path}; set BERT_OR_GPT_SHARED")
    return path
