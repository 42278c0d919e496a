"""The same `advisor distill train` under `torchrun --nproc_per_node 2` (DDP over gloo on CPU):
two processes, one student, loadable. The code path is the stock HF Trainer, so nothing in the
command changes between one process, several CPU processes and several GPUs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.atomic import write_json, write_jsonl


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path, shared_data, repo_dir):
    from transformers import AutoModelForSequenceClassification

    from distill.data.labelset import LabelSet
    from benchmarks.shared_data import sst2_splits, synthetic_teacher_rows

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun (part of torch) not found"
    ls = LabelSet.from_spec("sst2")
    pool, _ = sst2_splits(shared_data, n_pool=120, seed=11)
    run = tmp_path / "run"
    run.mkdir()
    write_jsonl(run / "labels.jsonl", synthetic_teacher_rows(pool, ls.names, flip=0.1, seed=11))
    write_json(run / "labelset.json", ls.to_dict())

    env = {**os.environ, "PYTHONPATH": str(repo_dir), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "advisor.cli", "distill", "train",
           "--labels", str(run / "labels.jsonl"), "--out", str(run), "--max-steps", "4", "--max-length", "32",
           "--batch-size", "8", "--eval-fraction", "0.2", "--quiet"]
    p = subprocess.run(cmd, cwd=repo_dir, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    info = json.loads((run / "train.json").read_text())
    assert info["world_size"] == 2
    assert info["global_step"] == 4
    # 96 training rows, 8 per process and step, 2 processes -> 6 steps per epoch; 4 steps = 2/3 epoch
    assert info["epochs_done"] == pytest.approx(4 / 6, rel=0.01)
    assert p.stdout.count("student: ") == 1  # only rank 0 reports and saves
    model = AutoModelForSequenceClassification.from_pretrained(run / "student")
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert (run / "student" / "tokenizer.json").is_file()
