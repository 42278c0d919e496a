"""Small matplotlib figures (Agg backend, no display) written atomically as PNG."""

from __future__ import annotations

import io
import os

import numpy as np

from core.atomic import atomic_open


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    with atomic_open(path, "wb") as fh:
        fh.write(buf.getvalue())


def plot_confusion(confusion, labels, path, title) -> None:
    """Confusion matrix heat map: rows gold, columns predicted, counts in the cells."""
    plt = _plt()
    cm = np.asarray(confusion, dtype=float)
    labels = [str(x) for x in labels]
    k = len(labels)
    size = max(3.5, 0.6 * k + 2.0)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(labels, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
    ax.set_yticklabels(labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    vmax = cm.max() if cm.size else 0
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if vmax and cm[i, j] > vmax / 2 else "black")
    _save(fig, path)


def plot_bars(values: dict[str, float], path, title, ylabel, log=False) -> None:
    """One bar per key, the value printed above it."""
    plt = _plt()
    names = list(values)
    vals = [float(values[n]) for n in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.5))
    bars = ax.bar(range(len(names)), vals, color="#4C72B0")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    for b, v in zip(bars, vals):
        ax.annotate(f"{v:.3g}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                    va="bottom", fontsize=8)
    _save(fig, path)


def plot_curve(series: dict[str, list[tuple[float, float]]], path, xlabel: str, ylabel: str, title: str,
               marks: dict[str, float] | None = None, vline: tuple[str, float] | None = None,
               spread: dict[str, list[tuple[float, float, float]]] | None = None) -> None:
    """One line per series of (x, y) points; ``marks``: horizontal reference lines (e.g. the
    fully-labelled figure); ``vline``: one labelled vertical line; ``spread``: (x, low, high) bands."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, pts in series.items():
        pts = sorted(pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
        if spread and spread.get(name):
            band = sorted(spread[name])
            ax.fill_between([b[0] for b in band], [b[1] for b in band], [b[2] for b in band], alpha=0.2)
    for i, (name, y) in enumerate((marks or {}).items()):
        if y is not None:
            ax.axhline(float(y), linestyle="--", color=f"C{i + len(series)}", label=f"{name} ({float(y):.3f})")
    if vline is not None:
        ax.axvline(float(vline[1]), linestyle=":", color="grey", label=vline[0])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)
