"""The ``teacher:`` section: which teacher labels the pool, with which prompt, and how it is gated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.schema import setting
from distill.teachers.http import DEFAULT_API_KEY_ENV, DEFAULT_CONCURRENCY, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT

BACKENDS = ("auto", "llama-cpp", "transformers")
LANGUAGES = ("auto", "en", "zh")
CALIBRATIONS = ("none", "content-free", "pool-mean")
DTYPES = ("auto", "float32", "bfloat16")


@dataclass
class TeacherConfig:
    """Everything ``advisor distill label`` and the pipeline's label stage need to know about the
    teacher: the model and its runtime, the prompt, the calibration, the requests to a server, and
    the quality gate."""

    SECTION: ClassVar[str] = "teacher"
    model: str | None = setting(None, "A named teacher (qwen2.5-1.5b, smollm2-135m), an HF model dir, a .gguf "
                                "file, or an OpenAI-compatible URL http(s)://host:port/v1. A trained student "
                                "directory (RUN_DIR/student) makes it two-stage distillation. Default: smollm2-135m.",
                                kind="model", flag="--teacher")
    backend: str = setting("auto", "Local GGUF runtime: auto = llama.cpp when llama-cpp-python is installed (make "
                           "setup-server), else transformers (de-quantised to fp32).", choices=BACKENDS)
    language: str = setting("auto", "Prompt language: auto = Chinese templates for Chinese text, else English.",
                            choices=LANGUAGES)
    # --- the prompt ---
    template: str | None = setting(None, "Prompt template: field, instruct, described, question, chat, "
                                   "chat-described, options, chat-options (options: lettered labels with "
                                   "descriptions, for many classes).", kind="str")
    select_prompt: bool = setting(False, "Try every template on gold dev rows, print each accuracy, keep the best.")
    candidates: str | None = setting(None, "Templates --select-prompt tries (comma list; default: all).", kind="str")
    dev: str | None = setting(None, "Gold dev file for --select-prompt (default: gold rows of --data).", kind="path")
    dev_size: int = setting(200, "Gold rows used by --select-prompt.")
    shots: int | None = setting(None, "k-shot examples in the prompt (balanced per class; needs --shots-file).",
                                kind="int")
    shots_file: str | None = setting(None, "Labelled examples for --shots (any input format, with a label column).",
                                     kind="path")
    calibrate: str | None = setting(None, "Contextual calibration: content-free inputs (N/A, '', [MASK]) or the "
                                    "pool's mean. Default: none for `advisor distill label` (every calibration is "
                                    "tried with --select-prompt); content-free for a GPT teacher in a config file.",
                                    kind="str", choices=CALIBRATIONS)
    # --- a local teacher ---
    batch_size: int = setting(16, "Local teacher batch size.")
    dtype: str = setting("auto", "Local teacher numerics (auto: bf16 on CPUs with AMX, else fp32).", choices=DTYPES)
    trust_remote_code: bool = setting(False, "Allow custom model code from the teacher directory.")
    # --- a teacher behind a server ---
    server_model: str | None = setting(None, "Model name on the server (default: the server's first model).",
                                       kind="str")
    api_key_env: str = setting(DEFAULT_API_KEY_ENV, "Environment variable holding the API key.")
    concurrency: int = setting(DEFAULT_CONCURRENCY, "Parallel server requests.")
    timeout: float = setting(DEFAULT_TIMEOUT, "Per-request timeout in seconds.")
    max_retries: int = setting(DEFAULT_MAX_RETRIES, "Retries on 429/5xx/timeouts (exponential backoff).")
    price_per_1k_tokens: float | None = setting(None, "API price per 1,000 prompt tokens, for the dry run's cost "
                                                "estimate.", kind="float", cli=False)
    budget: int | float | None = setting(None, "Active distillation: at most this many teacher calls (an integer) "
                                         "or this share of the pool (0.25 or 25%); the teacher labels a seed "
                                         "sample, then, round by round, the texts a student is least sure of; "
                                         "the student's confident labels cover the rest (docs/budgets.md). "
                                         "Experimental: not yet as good as full labelling on SST-2 (docs/budgets.md). "
                                         "Default: the teacher labels every text.", kind="budget")
    # --- the gate ---
    gate_size: int = setting(200, "Texts the teacher gate scores before the pool is labelled.")
    accept_weak_teacher: bool = setting(False, "Go on when the teacher gate finds the teacher no better than chance "
                                        "(the figures are still reported).")

    def load_options(self) -> dict:
        """The keyword arguments of ``distill.teachers.load_teacher`` (without shots)."""
        return dict(backend=self.backend, batch_size=self.batch_size, dtype=self.dtype,
                    trust_remote_code=self.trust_remote_code, server_model=self.server_model,
                    api_key_env=self.api_key_env, concurrency=self.concurrency, timeout=self.timeout,
                    max_retries=self.max_retries, template=self.template)
