"""``advisor recommend --measure``: time the candidates on this machine at the user's sequence length.

* student: the embedded encoder (all-MiniLM-L6-v2) cut to N layers, exported to int8 ONNX with the
  toolkit's own exporter (export/onnx.py), timed with onnxruntime at batch 1 on one thread with
  inputs of exactly ``seq_len`` tokens (tokenisation excluded). The layer count is found by
  bisection: the largest N whose p95 fits ``--latency-ms``. Exports are cached under
  ``$BERT_OR_GPT_CACHE`` (default ``~/.cache/bert-or-gpt``)/advisor, so a second call is fast.
* teacher: the embedded SmolLM2-135M GGUF through the toolkit's local teacher (one text scored at a
  time, plus prefill and decoding speed in tokens/s), or the user's OpenAI-compatible server
  (``--teacher http(s)://...``: latency per request and tokens/s from the server's usage counts).
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import time
from pathlib import Path
from typing import Callable

from core.cache import cache_home
from core.errors import UserError, first_line
from distill.defaults import MAX_POSITIONS
from distill.teachers.http import DEFAULT_API_KEY_ENV

LAYERS = (1, 2, 3, 4, 5, 6)
FILLER = ("The service was quick and the staff were friendly, but the room was smaller than the photos "
          "suggested and the breakfast ran out early. ")


def cache_root() -> Path:
    root = os.environ.get("BERT_OR_GPT_CACHE")
    base = Path(root).expanduser() if root else cache_home()
    return base / "advisor"


def machine() -> dict:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="ignore").splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": name, "cores": os.cpu_count(), "load1": load}


def _percentiles(samples_ms: list[float]) -> tuple[float, float]:
    s = sorted(samples_ms)
    p95 = s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]
    return statistics.median(s), p95


# --------------------------------------------------------------------------------------- student
def student_onnx(layers: int, target: str, progress: Callable[[str], None] = lambda m: None) -> Path:
    """The int8 ONNX model of the embedded student cut to ``layers`` layers (exported once, cached)."""
    from distill.defaults import default_student_dir

    src = default_student_dir()
    size = sum(f.stat().st_size for f in src.glob("*.safetensors"))
    key = f"minilm-l{layers}-{target}-{size}"
    final = cache_root() / "students" / key / "model.onnx"
    if final.is_file():
        return final
    progress(f"exporting the student with {layers} layers to int8 ONNX ({target}); cached for next time")
    from distill.training.modeling import load_student
    from export.onnx import export_student

    work = final.parent.parent / f".{key}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    hf = work / "hf"
    model, tok, _ = load_student(src, ["negative", "positive"], layers=layers)
    model.save_pretrained(str(hf), safe_serialization=True)
    tok.save_pretrained(str(hf))
    result = export_student(hf, work / "onnx", target=target)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_suffix(".onnx.tmp")
    shutil.copy2(result.int8, tmp)
    os.replace(tmp, final)
    shutil.rmtree(work, ignore_errors=True)
    return final


def time_onnx(model: Path, seq_len: int, min_runs: int = 30, max_runs: int = 300, max_s: float = 3.0) -> dict:
    """Batch-1 latency of one ONNX encoder at ``seq_len`` tokens, one intra-op thread."""
    import numpy as np
    import onnxruntime as ort

    from export.onnx import SESSION_DISABLED_OPTIMIZERS

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(SESSION_DISABLED_OPTIMIZERS))
    n = min(seq_len, MAX_POSITIONS)
    ids = np.random.default_rng(0).integers(1000, 20000, size=(1, n), dtype=np.int64)
    ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if "token_type_ids" in {i.name for i in sess.get_inputs()}:
        feed["token_type_ids"] = np.zeros_like(ids)
    for _ in range(3):
        sess.run(None, feed)
    wall, cpu = [], []
    start = time.perf_counter()
    while len(wall) < max_runs and (len(wall) < min_runs or time.perf_counter() - start < max_s):
        t0, c0 = time.perf_counter(), time.process_time()
        sess.run(None, feed)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    p50, p95 = _percentiles(wall)
    return {"p50_ms": round(p50, 3), "p95_ms": round(p95, 3), "cpu_p50_ms": round(statistics.median(cpu), 3),
            "runs": len(wall), "tokens": n}


def measure_student(latency_ms: float, seq_len: int, progress: Callable[[str], None]) -> dict:
    """Time the student at 6 layers, then bisect for the largest layer count whose p95 fits."""
    from export.onnx import detect_target

    target = detect_target()
    by: dict[int, dict] = {}

    def run(n: int) -> dict:
        if n not in by:
            by[n] = {"layers": n, **time_onnx(student_onnx(n, target, progress), seq_len)}
            by[n]["fits"] = by[n]["p95_ms"] <= latency_ms
        return by[n]

    chosen = None
    if run(max(LAYERS))["fits"]:
        chosen = by[max(LAYERS)]
    else:
        lo, hi = min(LAYERS) - 1, max(LAYERS)  # lo: fits (0 = none does), hi: does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if run(mid)["fits"] else (lo, mid)
        chosen = by.get(lo)
    return {"target": target, "seq_len": seq_len, "truncated_to": MAX_POSITIONS if seq_len > MAX_POSITIONS else None,
            "by_layers": dict(sorted(by.items(), reverse=True)), "chosen": chosen, "budget_ms": latency_ms}


# --------------------------------------------------------------------------------------- teacher
def measure_local_teacher(seq_len: int, gen_tokens: int, progress: Callable[[str], None], runs: int = 5,
                          spec: str | None = None) -> dict:
    """The embedded SmolLM2-135M: scoring one text (what labelling and a GPT classifier cost per
    text), prefill of ``seq_len`` tokens and decoding speed (tokens/s)."""
    from core.offline import force_offline

    force_offline()
    from distill.defaults import default_teacher_gguf
    from distill.data.labelset import LabelSet
    from distill.teachers.local import LocalTeacher

    progress(f"loading the teacher {spec or 'SmolLM2-135M (embedded)'}")
    teacher = LocalTeacher(spec or default_teacher_gguf(), LabelSet.from_spec("negative,positive"), batch_size=1)
    torch, tok, model = teacher.torch, teacher.tokenizer, teacher.model
    ids = tok((FILLER * (seq_len // 20 + 2)), add_special_tokens=False)["input_ids"][:seq_len]
    text = tok.decode(ids)
    teacher.predict_proba([text])  # warm-up (and the prompt prefix's cache)
    score = []
    for _ in range(runs):
        t0 = time.perf_counter()
        teacher.predict_proba([text])
        score.append((time.perf_counter() - t0) * 1000)
    inp = torch.tensor([ids])
    with torch.inference_mode():
        prefill = []
        for _ in range(3):
            t0 = time.perf_counter()
            model(input_ids=inp, use_cache=True, logits_to_keep=1)
            prefill.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        out = model.generate(inp, attention_mask=torch.ones_like(inp), max_new_tokens=gen_tokens,
                             min_new_tokens=gen_tokens, do_sample=False, pad_token_id=tok.eos_token_id)
        total = time.perf_counter() - t0
    made = int(out.shape[1] - inp.shape[1])
    pre = statistics.median(prefill)
    decode_s = max(total - pre / 1000, 1e-9)
    s50, s95 = _percentiles(score)
    teacher.close()
    return {"kind": "local", "model": spec or "SmolLM2-135M-Instruct (embedded GGUF, fp32 torch)", "threads": torch.get_num_threads(),
            "score_p50_ms": round(s50, 1), "score_p95_ms": round(s95, 1), "prefill_ms": round(pre, 1),
            "tokens_out": made, "tokens_per_s": round(made / decode_s, 1), "seq_len": seq_len, "runs": runs}


def measure_server(url: str, server_model: str | None, seq_len: int, gen_tokens: int, runs: int = 5,
                   api_key_env: str = DEFAULT_API_KEY_ENV, timeout: float = 120.0) -> dict:
    """Latency per request and tokens/s of an OpenAI-compatible server, one request at a time."""
    import httpx

    base = url.rstrip("/")
    headers = {}
    if os.environ.get(api_key_env):
        headers["Authorization"] = f"Bearer {os.environ[api_key_env]}"
    words = (FILLER * (seq_len // 20 + 2)).split()[: max(1, int(seq_len * 0.75))]  # ~0.75 words per token
    prompt = " ".join(words) + "\n\nContinue this review."
    try:
        with httpx.Client(timeout=timeout, headers=headers) as client:
            model = server_model
            if not model:
                r = client.get(base + "/models")
                r.raise_for_status()
                data = r.json().get("data") or []
                if not data:
                    raise UserError(f"--teacher {url}: the server lists no models; give --server-model")
                model = data[0]["id"]
            lat, tps, toks = [], [], []
            for i in range(runs + 1):
                t0 = time.perf_counter()
                r = client.post(base + "/chat/completions", json={
                    "model": model, "messages": [{"role": "user", "content": prompt}],
                    "max_tokens": gen_tokens, "temperature": 0})
                dt = time.perf_counter() - t0
                if r.status_code != 200:
                    raise UserError(f"--teacher {url}: HTTP {r.status_code} from /chat/completions: {r.text[:200]}")
                body = r.json()
                usage = body.get("usage") or {}
                n = usage.get("completion_tokens")
                if not isinstance(n, int):
                    raise UserError(f"--teacher {url}: the answer has no usage.completion_tokens, so tokens/s cannot be measured")
                if i == 0:
                    continue  # warm-up
                lat.append(dt * 1000)
                toks.append(n)
                tps.append(n / dt if dt > 0 else 0.0)
    except httpx.HTTPError as exc:
        raise UserError(f"--teacher {url}: {type(exc).__name__}: {first_line(exc)}") from None
    except ValueError as exc:
        raise UserError(f"--teacher {url}: the answer is not valid JSON ({first_line(exc)})") from None
    p50, p95 = _percentiles(lat)
    return {"kind": "server", "model": model, "url": base, "p50_ms": round(p50, 1), "p95_ms": round(p95, 1),
            "tokens_out": int(statistics.median(toks)), "tokens_per_s": round(statistics.median(tps), 1),
            "seq_len": seq_len, "runs": runs}


def measure(rec, teacher: str | None = None, server_model: str | None = None,
            progress: Callable[[str], None] = lambda m: None) -> dict:
    """Everything ``--measure`` prints, for the recommendation's answers."""
    from advisor.questionnaire.cost import output_tokens

    a = rec.answers
    seq_len = int(a.peek("seq_len", 128))
    latency = float(a.peek("latency_ms", 1000))
    gen_tokens = int(min(max(output_tokens(a, a.params), 8), 32))
    started = time.perf_counter()
    info = {"machine": machine(), "seq_len": seq_len}
    info["student"] = measure_student(latency, seq_len, progress)
    if teacher and teacher.lower().startswith(("http://", "https://")):
        progress(f"timing your server {teacher}")
        info["teacher"] = measure_server(teacher, server_model, seq_len, gen_tokens)
    else:
        info["teacher"] = measure_local_teacher(seq_len, gen_tokens, progress,
                                                spec=None if teacher in (None, "", "default") else teacher)
    info["seconds"] = round(time.perf_counter() - started, 1)
    info["machine"]["load1_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return info
