"""Teachers: ``load_teacher(spec, labelset, **options)``.

``spec`` is None (the embedded SmolLM2-135M-Instruct GGUF), a Hugging Face causal-LM directory, a
``.gguf`` file, an OpenAI-compatible server URL ``http(s)://host:port/v1`` (with
``server_model=...``), or a fine-tuned encoder classifier directory (a trained student: two-stage
distillation, see ``distill.teachers.classifier``).
"""

from __future__ import annotations

from distill.labelset import LabelSet
from distill.teachers.base import Scored, Teacher


def is_server_spec(spec: str | None) -> bool:
    return bool(spec) and str(spec).lower().startswith(("http://", "https://"))


def load_teacher(spec: str | None, labelset: LabelSet, **options) -> Teacher:
    if spec is None or str(spec).strip() in {"", "default"}:
        from distill.defaults import default_teacher_gguf

        spec = str(default_teacher_gguf())
    if is_server_spec(spec):
        from distill.teachers.server import ServerTeacher

        return ServerTeacher(str(spec), labelset, **options)
    from distill.teachers.classifier import ClassifierTeacher, is_classifier_dir

    if is_classifier_dir(spec):
        return ClassifierTeacher(spec, labelset, **options)
    from distill.teachers.local import LocalTeacher

    return LocalTeacher(spec, labelset, **options)


__all__ = ["Scored", "Teacher", "load_teacher", "is_server_spec"]
