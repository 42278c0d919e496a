"""A local Hugging Face causal LM (model directory or GGUF file) as a scoring teacher.

For every text the teacher computes log P(label continuation | prompt) for each label's *whole*
verbalizer token sequence and normalises over the label set. Work per batch:

1. the prompt's shared prefix (instructions + k-shot examples) runs once per prompt; its KV
   cache is copied to every batch;
2. one forward pass over the batch's per-text suffixes (left-padded, explicit position ids),
   keeping only the last position's logits: the first label token's log-probability;
3. only when some verbalizer has more than one token: one more forward over the KV cache with
   all multi-token continuations at once, adding the remaining tokens' log-probabilities.

Texts are sorted by length before batching to reduce padding. ``dtype="bfloat16"`` runs the
model in bf16 (AMX/AVX-512-BF16 CPUs) -- see docs/benchmarks.md, section 2.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import numpy as np

from core.errors import UserError, first_line
from core.offline import force_offline
from distill.data.labelset import LabelSet
from distill.teachers.prompts import Calibrator, Prompt
from distill.teachers.base import Scored, Teacher, dir_digest, file_digest, label_token_ids

DTYPES = ("auto", "float32", "bfloat16")


def resolve_model_path(spec: str | os.PathLike) -> tuple[Path, str | None]:
    """(directory, gguf file name or None) for a model directory or a .gguf file."""
    p = Path(spec).expanduser()
    if not p.exists():
        raise UserError(f"teacher {p} not found (give a model directory, a .gguf file or an http(s):// server URL)")
    if p.is_file():
        if p.suffix.lower() != ".gguf":
            raise UserError(f"teacher file {p} is not a .gguf file")
        return p.parent, p.name
    if (p / "config.json").is_file():
        return p, None
    ggufs = sorted(p.glob("*.gguf"))
    if len(ggufs) == 1:
        return p, ggufs[0].name
    if ggufs:
        raise UserError(f"teacher directory {p} holds several .gguf files; name one of them")
    raise UserError(f"teacher directory {p} has no config.json and no .gguf file")


class LocalTeacher(Teacher):
    kind = "local"

    def __init__(
        self,
        path: str | os.PathLike,
        labelset: LabelSet,
        prompt: Prompt | None = None,
        calibrator: Calibrator | None = None,
        batch_size: int = 16,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        threads: int | None = None,
        share_prefix: bool = True,
        sort_by_length: bool = True,
        template: str | None = None,
        calibrate: str | None = None,
        shots=(),
        **_ignored,
    ):
        super().__init__(labelset, prompt, calibrator, template=template, calibrate=calibrate, shots=shots)
        if batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {batch_size}")
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
        self.model_dir, self.gguf_file = resolve_model_path(path)
        self.batch_size = batch_size
        self.share_prefix = share_prefix  # run the prompt's shared prefix once and reuse its KV cache
        self.sort_by_length = sort_by_length  # batch texts of similar length (less padding)
        self.trust_remote_code = trust_remote_code
        force_offline()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        src = Path(self.model_dir) / self.gguf_file if self.gguf_file else Path(self.model_dir)
        digest = file_digest(src) if self.gguf_file else dir_digest(src)
        load_dir, kw = self.model_dir, ({"gguf_file": self.gguf_file} if self.gguf_file else {})
        converted = _converted_dir(digest) if self.gguf_file else None
        if converted is not None and (converted / "done").is_file():
            load_dir, kw = converted, {}  # de-quantized earlier: loads in ~1 s instead of ~30 s
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(load_dir, trust_remote_code=trust_remote_code, **kw)
            self.model = AutoModelForCausalLM.from_pretrained(load_dir, trust_remote_code=trust_remote_code, **kw)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise UserError(f"cannot load teacher {path}: {first_line(exc)[:300]}") from None
        if converted is not None and load_dir != converted:
            _save_converted(self.model, self.tokenizer, converted)
        if dtype == "auto":
            dtype = "bfloat16" if _fast_bf16() else "float32"
        self.dtype = dtype
        if dtype == "bfloat16":
            self.model.to(torch.bfloat16)
        self.model.eval()
        self._prefix_cache: dict[str, tuple[list[int], object]] = {}
        self._label_cache: dict[str, list[list[int]]] = {}
        self.source = str(src)
        self.fingerprint = hashlib.sha256(f"local|{digest}|{dtype}".encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "model": self.source,
            "gguf_file": self.gguf_file,
            "architecture": type(self.model).__name__,
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "trust_remote_code": self.trust_remote_code,
        }

    # ------------------------------------------------------------------ prompt -> token ids
    def _render(self, text: str) -> str:
        p = self.prompt
        if not p.is_chat:
            return p.render(text)
        if not getattr(self.tokenizer, "chat_template", None):
            raise UserError(f"teacher {self.source} has no chat template; use a completion template (e.g. --template field)")
        return self.tokenizer.apply_chat_template(p.messages(text), tokenize=False, add_generation_prompt=True)

    def generate(self, text: str, max_tokens: int = 256) -> tuple[str, list[str], list[float]]:
        """The greedy answer (transformers ``generate``, ``output_scores``): (answer, its tokens'
        strings, their log-probabilities)."""
        torch = self.torch
        ids = self.tokenizer(self._render(text), return_tensors="pt", add_special_tokens=False)
        ids = {k: v.to(self.model.device) for k, v in ids.items()}
        with torch.inference_mode():
            out = self.model.generate(**ids, max_new_tokens=max_tokens, do_sample=False, output_scores=True,
                                      return_dict_in_generate=True, pad_token_id=self.tokenizer.eos_token_id)
            scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        new = out.sequences[0, ids["input_ids"].shape[1]:].tolist()
        lps = [float(x) for x in scores[0].tolist()]
        eos = self.tokenizer.eos_token_id
        if eos in new:
            cut = new.index(eos)
            new, lps = new[:cut], lps[:cut]
        tokens = [self.tokenizer.decode(new[:i + 1]) for i in range(len(new))]
        pieces = [b[len(a):] if b.startswith(a) else b for a, b in zip([""] + tokens[:-1], tokens)]
        return (tokens[-1] if tokens else ""), pieces, lps

    def _split(self) -> str:
        """The shared prefix string of every rendered prompt, cut after its last newline."""
        a, b = self._render("\x01a"), self._render("\x02b")
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        cut = a.rfind("\n", 0, n)
        return a[: cut + 1] if cut >= 0 else ""

    def _encode(self, s: str) -> list[int]:
        return self.tokenizer(s, add_special_tokens=False).input_ids if s else []

    def _label_ids(self) -> list[list[int]]:
        key = self.prompt.hash
        if key not in self._label_cache:
            self._label_cache[key] = label_token_ids(self.prompt.label_continuations(), self._encode)
        return self._label_cache[key]

    def _prefix(self):
        key = f"{self.prompt.hash}|{self.share_prefix}|{self.model.dtype}"
        if key not in self._prefix_cache:
            prefix = self._split() if self.share_prefix else ""
            ids = self._encode(prefix)
            cache = None
            if ids:
                with self.torch.inference_mode():
                    out = self.model(input_ids=self.torch.tensor([ids]), use_cache=True, logits_to_keep=1)
                cache = out.past_key_values
            self._prefix_cache = {key: (prefix, ids, cache)}  # one prompt at a time
        return self._prefix_cache[key]

    # ------------------------------------------------------------------ scoring
    def score(self, texts: list[str]) -> list[Scored]:
        texts = list(texts)
        if not texts:
            return []
        prefix, pids, pcache = self._prefix()
        suffixes = []
        for t in texts:
            full = self._render(t)
            if not full.startswith(prefix):  # cannot happen with our templates; be safe
                raise RuntimeError("prompt prefix mismatch")
            suffixes.append(self._encode(full[len(prefix):]))
        order = list(range(len(texts)))
        if self.sort_by_length:
            order.sort(key=lambda i: len(suffixes[i]))
        out: list[Scored | None] = [None] * len(texts)
        for s in range(0, len(order), self.batch_size):
            idx = order[s : s + self.batch_size]
            lp = self._score_batch([suffixes[i] for i in idx], pids, pcache)
            for j, i in enumerate(idx):
                row = lp[j] - lp[j].max()
                p = np.exp(row)
                out[i] = Scored(p / p.sum(), "scored")
        self.calls += len(texts)
        return out  # type: ignore[return-value]

    def _score_batch(self, seqs: list[list[int]], pids: list[int], pcache) -> np.ndarray:
        torch = self.torch
        B, P = len(seqs), len(pids)
        L = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((B, L), pad, dtype=torch.long)
        mask = torch.zeros((B, P + L), dtype=torch.long)
        mask[:, :P] = 1
        for b, s in enumerate(seqs):
            ids[b, L - len(s) :] = torch.tensor(s)
            mask[b, P + L - len(s) :] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)[:, P:]
        labels = self._label_ids()
        multi = [j for j, t in enumerate(labels) if len(t) > 1]
        with torch.inference_mode():
            cache = None
            if pcache is not None:
                cache = copy.deepcopy(pcache)
                if B > 1:
                    cache.batch_repeat_interleave(B)
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                             use_cache=bool(multi), logits_to_keep=1)
            first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
            lp = torch.stack([first[:, t[0]] for t in labels], dim=1)  # (B, k)
            if multi:
                M = len(multi)
                C = max(len(labels[j]) for j in multi) - 1
                cids = torch.full((B * M, C), pad, dtype=torch.long)
                cmask = torch.zeros((B * M, C), dtype=torch.long)
                for m, j in enumerate(multi):
                    t = labels[j][:-1]
                    cids[m::M, : len(t)] = torch.tensor(t)
                    cmask[m::M, : len(t)] = 1
                kv = out.past_key_values
                kv.batch_repeat_interleave(M)
                fmask = torch.cat([mask.repeat_interleave(M, 0), cmask], dim=1)
                last = pos[:, -1:].repeat_interleave(M, 0)
                cpos = last + 1 + torch.arange(C).unsqueeze(0)
                o2 = self.model(input_ids=cids, attention_mask=fmask, position_ids=cpos, past_key_values=kv,
                                use_cache=False, logits_to_keep=C)
                logp = torch.log_softmax(o2.logits.float(), dim=-1)  # (B*M, C, V)
                for m, j in enumerate(multi):
                    rest = labels[j][1:]
                    tgt = torch.tensor(rest)
                    got = logp[m::M, torch.arange(len(rest)), :].gather(-1, tgt.view(1, -1, 1).expand(B, -1, 1))
                    lp[:, j] += got.squeeze(-1).sum(-1)
        return lp.double().numpy()


def _converted_dir(digest: str) -> Path | None:
    """Where a GGUF's de-quantized copy is kept (None when disabled with BERT_OR_GPT_GGUF_CACHE=off).

    transformers de-quantizes a GGUF on every load (about 30 s for the 135M default teacher on
    2 cores); the first load saves the result (fp32 safetensors, ~0.5 GB) under
    ``$BERT_OR_GPT_GGUF_CACHE`` (default ``~/.cache/bert-or-gpt/gguf``), keyed by the file's sha256.
    """
    from distill.teachers.registry import CACHE_OFF, GGUF_CACHE_ENV, cache_root

    if os.environ.get(GGUF_CACHE_ENV, "").lower() in CACHE_OFF:
        return None
    return cache_root() / digest[:32]


def _save_converted(model, tokenizer, target: Path) -> None:
    """Save atomically (temp dir + rename); a failure only costs the speed-up."""
    import shutil
    import tempfile

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "done").write_text("ok\n")
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass


def _fast_bf16() -> bool:
    """bf16 is the default only on CPUs with AMX tiles (amx_bf16), where it is several times faster
    than fp32. With AVX512-BF16 alone (this project's 2-core machine) the gain was ~1.2x and it
    moved a few SST-2 predictions, so fp32 stays the default there (``--dtype bfloat16`` opts in)."""
    try:
        flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
        return "amx_bf16" in flags
    except OSError:
        return False
