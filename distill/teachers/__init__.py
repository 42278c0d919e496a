"""Teachers: ``load_teacher(spec, labelset, backend="auto", **options)``.

``spec`` is None (the default named teacher, SmolLM2-135M-Instruct), a named teacher
(``qwen2.5-1.5b``, ``smollm2-135m``: see ``distill.teachers.registry``), a Hugging Face
causal-LM directory, a ``.gguf`` file, an OpenAI-compatible server URL ``http(s)://host:port/v1``
(with ``server_model=...``), or a fine-tuned encoder classifier directory (a trained student:
two-stage distillation, see ``distill.teachers.classifier``).

The backend is chosen from a registry (``BACKENDS``), first match wins with ``backend="auto"``:
``server`` (URLs), ``classifier`` (sequence-classification directories), ``llama-cpp`` (GGUF
files, when ``llama_cpp`` is importable and no transformers ``dtype`` was asked for) and
``transformers`` (model directories and GGUF files). ``backend=NAME`` forces one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.errors import UserError
from distill.data.labelset import LabelSet
from distill.teachers.base import Scored, Teacher


def is_server_spec(spec: str | None) -> bool:
    return bool(spec) and str(spec).lower().startswith(("http://", "https://"))


def _is_gguf(spec: str) -> bool:
    p = Path(spec).expanduser()
    if p.is_file():
        return p.suffix.lower() == ".gguf"
    return p.is_dir() and not (p / "config.json").is_file() and len(list(p.glob("*.gguf"))) == 1


@dataclass(frozen=True)
class Backend:
    name: str
    matches: Callable[[str, dict], bool]  # (resolved spec, options) -> does this backend take it (auto)?
    load: Callable[..., Teacher]  # (spec, labelset, **options) -> Teacher
    about: str


def _server(spec, labelset, **options):
    from distill.teachers.server import ServerTeacher

    return ServerTeacher(str(spec), labelset, **options)


def _classifier(spec, labelset, **options):
    from distill.teachers.classifier import ClassifierTeacher

    return ClassifierTeacher(spec, labelset, **options)


def _classifier_match(spec, options) -> bool:
    from distill.teachers.classifier import is_classifier_dir

    return is_classifier_dir(spec)


def _llama_match(spec, options) -> bool:
    from distill.teachers.llamacpp import available

    return _is_gguf(spec) and options.get("dtype", "auto") in (None, "auto") and available()


def _llama(spec, labelset, **options):
    from distill.teachers.llamacpp import LlamaCppTeacher, available

    if not available():
        raise UserError("the llama-cpp backend needs llama-cpp-python (make setup-server); "
                        "or use --backend transformers")
    return LlamaCppTeacher(spec, labelset, **options)


def _transformers(spec, labelset, **options):
    from distill.teachers.local import LocalTeacher

    return LocalTeacher(spec, labelset, **options)


BACKENDS: list[Backend] = [
    Backend("server", lambda s, o: is_server_spec(s), _server, "OpenAI-compatible server (logprobs)"),
    Backend("classifier", _classifier_match, _classifier, "a fine-tuned encoder classifier directory"),
    Backend("llama-cpp", _llama_match, _llama, "GGUF through llama.cpp (quantised kernels, shared-prefix KV cache)"),
    Backend("transformers", lambda s, o: True, _transformers, "HF directory or de-quantised GGUF in PyTorch"),
]
BACKEND_NAMES = ("auto", *(b.name for b in BACKENDS))


def register_backend(backend: Backend, before: str = "transformers") -> None:
    """Add a backend ahead of ``before`` in the auto-selection order (tests and plug-ins)."""
    names = [b.name for b in BACKENDS]
    if backend.name in names:
        BACKENDS[names.index(backend.name)] = backend
        return
    BACKENDS.insert(names.index(before) if before in names else len(BACKENDS), backend)


def resolve_spec(spec: str | None, echo=None) -> tuple[str, dict]:
    """A named teacher -> (its verified GGUF path, {"digest", "name"}); anything else unchanged."""
    from distill.teachers.registry import named, teacher_path

    t = named(spec)
    if t is None:
        return str(spec), {}
    return str(teacher_path(t, echo=echo)), {"digest": t.sha256, "name": t.name}


def load_teacher(spec: str | None, labelset: LabelSet, backend: str | None = "auto", **options) -> Teacher:
    backend = backend or "auto"
    if backend not in BACKEND_NAMES:
        raise UserError(f"unknown teacher backend {backend!r}; choose from {', '.join(BACKEND_NAMES)}")
    resolved, extra = (str(spec), {}) if is_server_spec(spec) else resolve_spec(spec)
    if backend == "auto":
        chosen = next(b for b in BACKENDS if b.matches(resolved, options))
    else:
        chosen = next(b for b in BACKENDS if b.name == backend)
    if chosen.name == "llama-cpp":
        options = {**options, **extra}
    language = options.pop("language", None)
    teacher = chosen.load(resolved, labelset, **options)
    if language and language != "en" and teacher.kind != "classifier":  # the prompt's Chinese rendering
        from distill.teachers.prompts import Prompt

        p = teacher.prompt
        teacher.set_prompt(Prompt(labelset, p.template, shots=p.shots, language=language))
    return teacher


__all__ = ["BACKENDS", "BACKEND_NAMES", "Backend", "Scored", "Teacher", "is_server_spec", "load_teacher",
           "register_backend", "resolve_spec"]
