"""``advisor export cascade``: give a bundle a teacher to defer to where the student is unsure.

The student answers a text when its (calibrated) top probability is at least the threshold; the
rest go to the teacher, an OpenAI-compatible server asked with the prompt the teacher labelled
with (document 002, section 四.2: a light model first, the large one where needed). The
threshold is chosen on gold texts for a target: a deferral rate (``defer_rate``: at most that
share of texts go to the teacher) or an accuracy (``target_accuracy``: the fewest deferrals that
reach it). The curve of accuracy against deferral rate (student alone at 0, teacher alone at 1)
is written into the bundle as ``cascade.json`` and ``cascade.png``, the section into
``config.json``, and the manifest is rewritten over the checked bundle (an explicit act, like an
export: the bundle's files are checked against the manifest first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from core.atomic import write_json
from core.errors import UserError

PLACEHOLDER = "<<<TEXT>>>"
PLACEHOLDER_PAIR = "<<<TEXT_PAIR>>>"  # the second text of a sentence-pair bundle (task pairs)


@dataclass
class CascadeCurve:
    """For k = 0..n deferred texts (the k least confident): deferral rate and accuracy."""

    confidence: np.ndarray      # student's top probability per text, ascending
    defer_rate: np.ndarray      # k / n
    accuracy: np.ndarray        # cascade accuracy when the k least confident go to the teacher
    student_accuracy: float
    teacher_accuracy: float


def cascade_curve(student_probs: np.ndarray, teacher_pred: np.ndarray, gold: np.ndarray) -> CascadeCurve:
    student_probs = np.asarray(student_probs, dtype=np.float64)
    conf = student_probs.max(1)
    order = np.argsort(conf, kind="stable")
    s_ok = (student_probs.argmax(1) == gold)[order].astype(float)
    t_ok = (np.asarray(teacher_pred) == gold)[order].astype(float)
    n = len(gold)
    # deferring the first k: teacher right on them, student right on the rest
    acc = (np.concatenate([[0.0], np.cumsum(t_ok)]) + (s_ok.sum() - np.concatenate([[0.0], np.cumsum(s_ok)]))) / n
    return CascadeCurve(conf[order], np.arange(n + 1) / n, acc, float(s_ok.mean()), float(t_ok.mean()))


def choose(curve: CascadeCurve, defer_rate: float | None = None, target_accuracy: float | None = None) -> int:
    """The number of texts to defer, k, for the target."""
    n = len(curve.confidence)
    if defer_rate is not None:
        return int(np.floor(defer_rate * n + 1e-9))
    reach = np.nonzero(curve.accuracy >= target_accuracy - 1e-12)[0]
    if not len(reach):
        best = int(curve.accuracy.argmax())
        raise UserError(f"no deferral rate reaches accuracy {target_accuracy:g} on the gold texts: the cascade "
                        f"peaks at {curve.accuracy[best]:.4f} deferring {curve.defer_rate[best]:.1%} "
                        f"(student alone {curve.student_accuracy:.4f}, teacher alone {curve.teacher_accuracy:.4f})")
    return int(reach[0])


def threshold_for(curve: CascadeCurve, k: int) -> float:
    """Defer a text when its confidence is below this: exactly the k least confident (ties aside)."""
    n = len(curve.confidence)
    if k <= 0:
        return 0.0
    if k >= n:
        return 1.0 + 1e-9 if curve.confidence[-1] >= 1.0 else float(np.nextafter(curve.confidence[-1], 2.0))
    return float(curve.confidence[k])


def check_teacher_url(url: str) -> str:
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise UserError(f"--teacher must be an http(s):// OpenAI-compatible server URL, got {url!r}")
    if u.username or u.password or u.query:
        raise UserError("--teacher URL must not carry credentials or a query string (they would be stored in "
                        "the bundle); put the key in an environment variable and name it with --api-key-env")
    return url


def plot_curve(curve: CascadeCurve, k: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.atomic import atomic_open

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(100 * curve.defer_rate, 100 * curve.accuracy, color="tab:blue", label="cascade")
    ax.axhline(100 * curve.student_accuracy, color="tab:orange", ls="--", label="student alone")
    ax.axhline(100 * curve.teacher_accuracy, color="tab:green", ls=":", label="teacher alone")
    ax.plot([100 * curve.defer_rate[k]], [100 * curve.accuracy[k]], "o", color="tab:red",
            label=f"chosen: defer {curve.defer_rate[k]:.1%} -> {curve.accuracy[k]:.1%}")
    ax.set_xlabel("texts deferred to the teacher (%)")
    ax.set_ylabel("accuracy on gold (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def teacher_request(teacher, pairs: bool = False) -> tuple[str, dict]:
    """(endpoint, request body with PLACEHOLDER for the text, and PLACEHOLDER_PAIR for the second
    text of a pair): the exact request the server teacher sends when labelling, so the cascade asks
    with the prompt the student learnt from."""
    from core.pairs import PAIR_SEP

    path, body = teacher._payload(PLACEHOLDER + PAIR_SEP + PLACEHOLDER_PAIR if pairs else PLACEHOLDER)
    dumped = json.dumps(body)
    if PLACEHOLDER not in dumped or (pairs and PLACEHOLDER_PAIR not in dumped):
        raise UserError("the teacher's prompt has no place for the text; cannot build the cascade request")
    return path, body


def configure(bundle_dir: Path, teacher_url: str, texts: list[str], gold: list[str], source: str, *,
              defer_rate: float | None = None, target_accuracy: float | None = None,
              server_model: str | None = None, api_key_env: str | None = None, template: str | None = None,
              teacher_calibrate: str | None = None, timeout: float = 10.0, progress=None,
              teacher_probs: np.ndarray | None = None) -> dict:
    """Choose the threshold on the gold texts and write the cascade into the bundle.

    ``teacher_probs``: the teacher's probabilities on ``texts`` when already known (a benchmark
    trying several targets); the teacher is then only asked for its calibration and request."""
    from distill.data.labelset import LabelSet
    from distill.teachers import load_teacher
    from export import bundle as B
    from export.runtime import Bundle, BundleError

    if (defer_rate is None) == (target_accuracy is None):
        raise UserError("give exactly one of --defer-rate and --target-accuracy")
    if defer_rate is not None and not 0 <= defer_rate <= 1:
        raise UserError(f"--defer-rate must be in [0, 1], got {defer_rate}")
    if target_accuracy is not None and not 0 < target_accuracy <= 1:
        raise UserError(f"--target-accuracy must be in (0, 1], got {target_accuracy}")
    if not 0 < timeout <= 600:
        raise UserError(f"--timeout must be in (0, 600] seconds, got {timeout}")
    check_teacher_url(teacher_url)
    try:
        bundle = Bundle.load(bundle_dir)  # every file checked against the manifest first
    except BundleError as exc:
        raise UserError(str(exc)) from None
    if bundle.task == "multilabel":
        raise UserError(f"the cascade is not supported for multi-label bundles ({bundle_dir} is task multilabel): "
                        f"it defers on the top probability of one label")
    labels = bundle.labels
    info = bundle.config["onnx_bundle"]
    labelset = LabelSet.from_dict(info["labelset"]) if info.get("labelset") else LabelSet.from_spec(",".join(labels))
    if list(labelset.names) != labels:
        raise UserError(f"the bundle's label set {list(labelset.names)} does not match its labels {labels}")
    gold_idx = np.array([labels.index(g) for g in gold])
    student = bundle.predict_proba(texts)
    options = {k: v for k, v in (("server_model", server_model), ("api_key_env", api_key_env),
                                 ("template", template), ("calibrate", teacher_calibrate),
                                 ("timeout", timeout)) if v is not None}
    teacher = load_teacher(teacher_url, labelset, **options)
    if getattr(teacher, "kind", None) != "server":
        raise UserError("the cascade's teacher must be an OpenAI-compatible server URL")
    task = info.get("task") or "classification"
    if task not in ("classification", "pairs"):
        raise UserError(f"the cascade defers single-label answers; a {task} bundle cannot have one")
    pairs = task == "pairs"
    if pairs:  # the teacher reads both texts, as when it labelled them (distill.teachers.prompts.PairPrompt)
        from distill.tasks import get_task

        teacher.set_prompt(get_task(task).prompt(labelset, teacher.prompt.template, language=teacher.prompt.language))
    if teacher_probs is None:
        parts = []
        for start in range(0, len(texts), 32):
            parts.append(teacher.predict_proba(texts[start:start + 32]))
            if progress:
                progress(len(texts[start:start + 32]))
        teacher_probs = np.concatenate(parts)
    else:
        teacher.predict_proba(texts[:1])  # fits the teacher's own calibration, as on the first call
    ref = teacher.calibrator.ref if teacher.calibrator.method != "none" else None
    curve = cascade_curve(student, np.asarray(teacher_probs).argmax(1), gold_idx)
    k = choose(curve, defer_rate, target_accuracy)
    threshold = threshold_for(curve, k)
    endpoint, body = teacher_request(teacher, pairs)
    section = {
        "threshold": threshold,
        "chosen_for": {"defer_rate": defer_rate} if defer_rate is not None else {"target_accuracy": target_accuracy},
        "teacher": {"url": teacher.base_url, "endpoint": endpoint, "request": body, "placeholder": PLACEHOLDER,
                    **({"placeholder_pair": PLACEHOLDER_PAIR} if pairs else {}),
                    "verbalizers": dict(zip(labels, labelset.words)), "api_key_env": api_key_env,
                    "timeout_s": float(timeout), "max_body_bytes": 1 << 20, "model": teacher.server_model,
                    # the teacher's own calibration (p ∝ p / reference), applied to its logprobs at run time
                    "reference": None if ref is None else [float(x) for x in ref],
                    # asked again with this many top tokens when no label word is among the first ones
                    "wide_logprobs": _wide_logprobs(teacher),
                    "calibration": teacher.calibrator.method},
        "gold": {"source": source, "n": len(texts), "defer_rate": float(curve.defer_rate[k]),
                 "accuracy_cascade": float(curve.accuracy[k]), "accuracy_student": curve.student_accuracy,
                 "accuracy_teacher": curve.teacher_accuracy,
                 "student_calibrated": bool(info.get("calibration"))},
    }
    write_json(bundle_dir / "cascade.json", {
        **section["gold"], "threshold": threshold,
        "curve": {"defer_rate": [round(float(x), 6) for x in curve.defer_rate],
                  "accuracy": [round(float(x), 6) for x in curve.accuracy]}})
    plot_curve(curve, k, bundle_dir / "cascade.png", f"student + teacher cascade ({len(texts)} gold texts)")
    cfg = json.loads((bundle_dir / B.CONFIG).read_text(encoding="utf-8"))
    cfg["onnx_bundle"]["cascade"] = section
    write_json(bundle_dir / B.CONFIG, cfg)
    B.write_manifest(bundle_dir)
    return section



def _wide_logprobs(teacher) -> int | None:
    """The wider top-N the labelling teacher falls back to (None when the server refused it)."""
    wide, top = getattr(teacher, "wide_logprobs", None), getattr(teacher, "top_logprobs", None)
    if not wide or not top or wide <= top or getattr(teacher, "_wide_ok", None) is False:
        return None
    return int(wide)
