"""A GGUF teacher scored by llama.cpp (``llama-cpp-python``), the fast CPU path.

The GGUF's own quantised weights are used as they are (Q4_K, Q8 dot products), where the
transformers path de-quantises them to fp32 (4x the memory, several times the time). Work:

1. the prompt's shared prefix (instructions, label options, k-shot examples) is decoded once,
   as sequence 0 of a unified KV cache;
2. texts are scored in groups: each text gets its own sequence that *shares* the prefix's cells
   (``llama_memory_seq_cp`` in a unified cache copies no data) and the group's suffixes go through
   one ``llama_decode`` (a matrix-matrix product, not one token at a time); only the last token
   of each text asks for logits (``logits_all`` is off);
3. each label's first verbalizer token is read from those logits. Labels whose verbalizer has more
   tokens are scored over all of them: the continuations are decoded as further sequences, level
   by level, sharing the text's cells. With many multi-token labels only the ``expand`` most
   likely prefixes per level are followed; the labels under a prefix that was not followed share
   its probability evenly (recorded in ``describe()``). Single-token verbalizers (the ``options``
   template's letters) need no second step.

The prompt text and its tokens match the transformers path (same templates, the prefix cut at
the same newline, no BOS added), so the two agree up to the numerics of the quantised kernels;
benchmarks/bench_large_teacher.py measures the agreement.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np

from core.errors import UserError, first_line
from distill.data.labelset import LabelSet
from distill.teachers.prompts import Calibrator, Prompt
from distill.teachers.base import Scored, Teacher, file_digest, label_token_ids, shared_prefix


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class LlamaCppTeacher(Teacher):
    kind = "llama-cpp"

    def __init__(self, path: str | os.PathLike, labelset: LabelSet, prompt: Prompt | None = None,
                 calibrator: Calibrator | None = None, batch_size: int = 8, threads: int | None = None,
                 n_ctx: int = 8192, expand: int = 8, poll: int = 0, template: str | None = None, calibrate: str | None = None,
                 shots=(), digest: str | None = None, name: str | None = None, **_ignored):
        super().__init__(labelset, prompt, calibrator, template=template, calibrate=calibrate, shots=shots)
        if batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {batch_size}")
        p = Path(path).expanduser()
        if p.is_dir():
            ggufs = sorted(p.glob("*.gguf"))
            if len(ggufs) != 1:
                raise UserError(f"teacher directory {p} must hold exactly one .gguf file for the llama.cpp backend")
            p = ggufs[0]
        if not p.is_file():
            raise UserError(f"teacher {p} not found")
        import llama_cpp
        from llama_cpp import _internals as internals

        self._L = llama_cpp
        self.path = p
        self.name = name
        self.batch_size = batch_size
        self.expand = max(1, int(expand))
        self.threads = threads or _threads()
        self.n_seq = min(llama_cpp.llama_max_parallel_sequences(), 256)
        self.n_batch = 2048
        mparams = llama_cpp.llama_model_default_params()
        mparams.use_mmap = True
        try:
            llama_cpp.llama_log_set(_SILENT, ctypes.c_void_p(0))
            self.model = internals.LlamaModel(path_model=str(p), params=mparams, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise UserError(f"cannot load teacher {p} with llama.cpp: {first_line(exc)[:300]}") from None
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = self.n_batch
        cparams.n_ubatch = 512
        cparams.n_seq_max = self.n_seq
        cparams.n_threads = self.threads
        cparams.n_threads_batch = self.threads
        cparams.kv_unified = True
        cparams.no_perf = True
        try:
            self.ctx = internals.LlamaContext(model=self.model, params=cparams, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"cannot create a llama.cpp context for {p}: {first_line(exc)[:300]}") from None
        self.poll = poll
        self._threadpool = _attach_threadpool(llama_cpp, self.ctx.ctx, self.threads, poll)
        self.n_ctx = llama_cpp.llama_n_ctx(self.ctx.ctx)
        self.n_vocab = self.model.n_vocab()
        self.batch = internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=self.n_seq, verbose=False)
        self.mem = llama_cpp.llama_get_memory(self.ctx.ctx)
        self.metadata = self.model.metadata()
        digest = digest or file_digest(p)
        self.fingerprint = hashlib.sha256(f"llama-cpp|{digest}".encode()).hexdigest()[:16]
        self._prefix_key: str | None = None
        self._prefix_ids: list[int] = []
        self._prefix_str = ""
        self._label_cache: dict[str, list[list[int]]] = {}
        self.pruned = 0  # texts where some multi-token labels shared an unexpanded prefix's probability

    def describe(self) -> dict:
        return {"kind": self.kind, "fingerprint": self.fingerprint, "model": str(self.path), "name": self.name,
                "architecture": self.metadata.get("general.architecture"),
                "model_name": self.metadata.get("general.name"), "batch_size": self.batch_size,
                "threads": self.threads, "n_ctx": self.n_ctx, "expand": self.expand,
                "poll": self.poll if self._threadpool else "llama.cpp default",
                "runtime": f"llama-cpp-python {getattr(self._L, '__version__', '?')}"}

    def close(self) -> None:
        gen, self._gen = getattr(self, "_gen", None), None
        if gen is not None and hasattr(gen, "close"):
            gen.close()
        tp, self._threadpool = getattr(self, "_threadpool", None), None
        if tp and getattr(self, "ctx", None) is not None:
            self._L.llama_detach_threadpool(self.ctx.ctx) if hasattr(self._L, "llama_detach_threadpool") else None
        for obj in ("batch", "ctx", "model"):
            o = getattr(self, obj, None)
            if o is not None and hasattr(o, "close"):
                try:
                    o.close()
                except Exception:  # noqa: BLE001 - best effort at exit
                    pass
            setattr(self, obj, None)
        if tp:
            tp[0].ggml_threadpool_free(tp[1])

    # ------------------------------------------------------------------ generation (task ner)
    def generate(self, text: str, max_tokens: int = 256) -> tuple[str, list[str], list[float] | None]:
        """The greedy (temperature 0) answer to the current prompt for ``text``: (answer, its tokens'
        strings, their log-probabilities). Runs llama.cpp's ``create_completion`` on a second,
        generation-only context of the same GGUF (opened on first use; ``logits_all`` for the
        log-probabilities)."""
        if getattr(self, "_gen", None) is None:
            from llama_cpp import Llama

            try:
                self._gen = Llama(model_path=str(self.path), n_ctx=min(self.n_ctx, 4096), n_threads=self.threads,
                                  logits_all=True, verbose=False)
            except (ValueError, RuntimeError, OSError) as exc:
                raise UserError(f"cannot open {self.path} for generation with llama.cpp: {first_line(exc)[:300]}") from None
        prompt = self._render(text)
        out = self._gen.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, top_k=1, logprobs=1,
                                          stop=["\n\n\n"])
        choice = out["choices"][0]
        lp = choice.get("logprobs") or {}
        tokens = [str(t) for t in lp.get("tokens") or []]
        logprobs = [None if v is None else float(v) for v in lp.get("token_logprobs") or []]
        return choice.get("text") or "", tokens, (logprobs if tokens else None)

    # ------------------------------------------------------------------ prompt -> token ids
    def _render(self, text: str) -> str:
        p = self.prompt
        if not p.is_chat:
            return p.render(text)
        tpl = self.metadata.get("tokenizer.chat_template")
        if not tpl:
            raise UserError(f"teacher {self.path} has no chat template; use a completion template (e.g. --template field)")
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        return env.from_string(tpl).render(messages=p.messages(text), add_generation_prompt=True,
                                           bos_token="", eos_token="")

    def _encode(self, s: str) -> list[int]:
        return self.model.tokenize(s.encode("utf-8"), False, True) if s else []

    def _label_ids(self) -> list[list[int]]:
        key = self.prompt.hash
        if key not in self._label_cache:
            self._label_cache[key] = label_token_ids(self.prompt.label_continuations(), lambda c: self.model.tokenize(c.encode("utf-8"), False, False))
        return self._label_cache[key]

    # ------------------------------------------------------------------ llama.cpp plumbing
    def _seq_rm(self, seq: int, p0: int = -1) -> None:
        self._L.llama_memory_seq_rm(self.mem, seq, p0, -1)

    def _seq_cp(self, src: int, dst: int) -> None:
        self._L.llama_memory_seq_cp(self.mem, src, dst, -1, -1)

    def _decode(self, items: list[tuple[int, list[int], int]]) -> dict[int, np.ndarray]:
        """Decode sequences ``(seq_id, tokens, start position)``; returns seq_id -> log-softmax of
        the logits after its last token. Split over several ``llama_decode`` calls when needed."""
        out: dict[int, np.ndarray] = {}
        b = self.batch.batch
        n = 0
        want: list[tuple[int, int]] = []  # (batch index, seq)

        def flush():
            nonlocal n, want
            if not n:
                return
            b.n_tokens = n
            rc = self._L.llama_decode(self.ctx.ctx, b)
            if rc != 0:
                raise UserError(f"llama.cpp could not decode a batch (code {rc}): the prompt is longer than the "
                                f"context ({self.n_ctx} tokens); use fewer shots or --batch-size 1")
            for i, seq in want:
                ptr = self._L.llama_get_logits_ith(self.ctx.ctx, i)
                row = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float64)
                row -= row.max()
                out[seq] = row - np.log(np.exp(row).sum())
            n, want = 0, []

        for seq, toks, start in items:
            for j, t in enumerate(toks):
                if n >= self.n_batch:
                    flush()
                b.token[n] = t
                b.pos[n] = start + j
                b.n_seq_id[n] = 1
                b.seq_id[n][0] = seq
                last = j == len(toks) - 1
                b.logits[n] = last
                if last:
                    want.append((n, seq))
                n += 1
        flush()
        return out

    def _prefix(self) -> tuple[str, int]:
        key = self.prompt.hash
        if self._prefix_key != key:
            self._L.llama_memory_clear(self.mem, True)
            prefix = shared_prefix(self._render)
            ids = self._encode(prefix)
            if len(ids) >= self.n_ctx // 2:
                raise UserError(f"the prompt's shared part is {len(ids)} tokens, more than half the teacher's context "
                                f"({self.n_ctx}); use fewer shots")
            if ids:
                self._decode([(0, ids, 0)])
            self._prefix_key, self._prefix_ids, self._prefix_str = key, ids, prefix
        return self._prefix_str, len(self._prefix_ids)

    # ------------------------------------------------------------------ scoring
    def score(self, texts: list[str]) -> list[Scored]:
        texts = list(texts)
        if not texts:
            return []
        if self.ctx is None:
            raise RuntimeError("teacher is closed")
        prefix, P = self._prefix()
        suffixes = []
        for t in texts:
            full = self._render(t)
            if not full.startswith(prefix):
                raise RuntimeError("prompt prefix mismatch")
            suffixes.append(self._encode(full[len(prefix):]))
        labels = self._label_ids()
        order = sorted(range(len(texts)), key=lambda i: len(suffixes[i]))
        out: list[Scored | None] = [None] * len(texts)
        group = max(1, min(self.batch_size, self.n_seq - 1))
        for s in range(0, len(order), group):
            idx = order[s : s + group]
            lps = self._score_group([suffixes[i] for i in idx], P, labels)
            for i, lp in zip(idx, lps):
                row = lp - lp.max()
                p = np.exp(row)
                out[i] = Scored(p / p.sum(), "scored")
        self.calls += len(texts)
        return out  # type: ignore[return-value]

    def _score_group(self, seqs: list[list[int]], P: int, labels: list[list[int]]) -> list[np.ndarray]:
        room = self.n_ctx - P
        need = sum(len(s) for s in seqs) + max(len(t) for t in labels) * len(seqs) * self.expand
        if need > room and len(seqs) > 1:  # split the group: the unified cache holds every sequence at once
            half = len(seqs) // 2
            return self._score_group(seqs[:half], P, labels) + self._score_group(seqs[half:], P, labels)
        for j in range(1, len(seqs) + 1):
            self._seq_rm(j)
            if P:
                self._seq_cp(0, j)
        try:
            first = self._decode([(j + 1, s, P) for j, s in enumerate(seqs)])
            results = []
            for j, s in enumerate(seqs):
                results.append(np.array([first[j + 1][t[0]] for t in labels], dtype=np.float64))
            if any(len(t) > 1 for t in labels):
                self._continuations(seqs, P, labels, first, results)
            return results
        finally:
            for j in range(1, len(seqs) + 1):
                self._seq_rm(j)

    def _continuations(self, seqs, P, labels, first, results) -> None:
        """Add log P(token_2.. | text, token_1..) for multi-token labels, level by level."""
        k = len(labels)
        depth = max(len(t) for t in labels)
        free0 = len(seqs) + 1
        for j, s in enumerate(seqs):
            end = P + len(s)
            # prefix path (tuple of tokens) -> log-prob of reaching it; labels under it
            logits_at = {(): first[j + 1]}
            lp_path = {(): 0.0}
            done = np.zeros(k, dtype=bool)
            for lv in range(1, depth):
                nodes: dict[tuple, list[int]] = {}
                for li, t in enumerate(labels):
                    if len(t) > lv and not done[li]:
                        nodes.setdefault(tuple(t[:lv]), []).append(li)
                if not nodes:
                    break
                # log-prob of each node path, from the parent's logits
                scored_nodes = []
                for path, lis in nodes.items():
                    parent = path[:-1]
                    if parent not in logits_at:
                        continue
                    lp = lp_path[parent] + logits_at[parent][path[-1]]
                    lp_path[path] = lp
                    scored_nodes.append((lp, path, lis))
                scored_nodes.sort(key=lambda x: -x[0])
                keep, drop = scored_nodes[: self.expand], scored_nodes[self.expand :]
                for lp, path, lis in drop:  # not followed: the labels share the prefix's probability
                    for li in lis:
                        results[j][li] = lp - np.log(len(lis))
                        done[li] = True
                if drop:
                    self.pruned += 1
                items = []
                seq_of = {}
                for q, (lp, path, lis) in enumerate(keep):
                    sid = free0 + q
                    if sid >= self.n_seq:
                        raise UserError("too many label continuations for the llama.cpp context; lower --batch-size")
                    self._seq_rm(sid)
                    self._seq_cp(j + 1, sid)
                    items.append((sid, list(path), end))
                    seq_of[path] = sid
                got = self._decode(items)
                for sid in seq_of.values():
                    self._seq_rm(sid)
                for path, sid in seq_of.items():
                    logits_at[path] = got[sid]
            for li, t in enumerate(labels):
                if done[li] or len(t) == 1:
                    continue
                path = tuple(t[:-1])
                if path in logits_at:
                    results[j][li] = lp_path[path] + logits_at[path][t[-1]]


def _attach_threadpool(llama_cpp, ctx, threads: int, poll: int):
    """A ggml thread pool with polling level ``poll`` (0 = threads sleep between operations).

    llama.cpp's own pool busy-waits (polling level 50): on a machine whose cores are also busy
    with other work, a thread that spins while its partner is descheduled made scoring 15x slower
    here (2 threads on 2 shared cores: 33 s for 8 texts instead of 2 s). ``llama-cpp-python``
    does not bind the pool API, so it is called through ctypes; the parameter struct's layout is
    checked on a buffer filled by ``ggml_threadpool_params_init`` and, if it differs, the default
    pool is kept (returns None)."""
    import struct

    try:
        lib = Path(llama_cpp.__file__).parent / "lib"
        base = ctypes.CDLL(str(lib / "libggml-base.so"))
        cpu = ctypes.CDLL(str(lib / "libggml-cpu.so"))
        llama = ctypes.CDLL(str(lib / "libllama.so"))
        buf = (ctypes.c_uint8 * 4096)()
        base.ggml_threadpool_params_init.argtypes = [ctypes.c_void_p, ctypes.c_int]
        base.ggml_threadpool_params_init(ctypes.addressof(buf), threads)
        n, prio, default_poll = struct.unpack_from("<iiI", bytes(buf), 512)
        if n != threads or default_poll > 100 or any(bytes(buf)[:512]):
            return None
        struct.pack_into("<I", buf, 520, max(0, min(100, int(poll))))
        cpu.ggml_threadpool_new.argtypes = [ctypes.c_void_p]
        cpu.ggml_threadpool_new.restype = ctypes.c_void_p
        cpu.ggml_threadpool_free.argtypes = [ctypes.c_void_p]
        tp = cpu.ggml_threadpool_new(ctypes.addressof(buf))
        if not tp:
            return None
        llama.llama_attach_threadpool.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        llama.llama_attach_threadpool(ctx, tp, tp)
        return (cpu, tp)
    except (OSError, AttributeError, ValueError):
        return None


@ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
def _SILENT(level, text, user_data):  # noqa: N802 - a C callback
    """llama.cpp's log callback: keep its loading chatter off the user's terminal."""
    return None
