"""The label set: class names (in class-index order), descriptions, verbalizers and gold aliases.

``LabelSet.from_spec`` accepts
  * a comma list: ``"negative,positive"``; an item may carry gold aliases ``"0=negative"``
    (raw value ``0`` in a gold column means ``negative``);
  * a ``.yaml``/``.yml``/``.json`` file (see ``distill/data/presets/*.yaml`` for the schema);
  * a preset name shipped in ``distill/data/presets/`` (``sst2``, ``ag_news``, ``sms_spam``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


@dataclass(frozen=True)
class Label:
    name: str  # canonical label name, e.g. "positive"
    description: str | None = None
    verbalizer: str | None = None  # the word(s) the teacher says; default: name
    aliases: tuple[str, ...] = ()  # raw gold values that mean this label, e.g. ("1",)

    @property
    def word(self) -> str:
        """What the teacher is expected to say for this label."""
        return self.verbalizer if self.verbalizer else self.name

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"name": self.name}
        if self.description:
            d["description"] = self.description
        if self.verbalizer:
            d["verbalizer"] = self.verbalizer
        if self.aliases:
            d["aliases"] = list(self.aliases)
        return d


@dataclass(frozen=True)
class LabelSet:
    labels: tuple[Label, ...]
    task: str | None = None  # optional task description for prompts, e.g. "the sentiment of a movie review"
    preset: str | None = None  # the preset name it came from, if any
    data: dict = field(default_factory=dict, compare=False, hash=False)  # preset input-format hints
    prompt: dict = field(default_factory=dict, compare=False, hash=False)  # prompt hints: input/output field names

    def __post_init__(self) -> None:
        labels = tuple(self.labels)
        object.__setattr__(self, "labels", labels)
        if len(labels) < 2:
            raise UserError(f"a label set needs at least two labels, got {len(labels)}")
        seen: dict[str, str] = {}
        for lab in labels:
            if not isinstance(lab.name, str) or not lab.name.strip():
                raise UserError("label names must be non-empty strings")
            if lab.name != lab.name.strip():
                raise UserError(f"label name {lab.name!r} has leading or trailing spaces")
            key = lab.name.casefold()
            if key in seen:
                raise UserError(f"duplicate label name {lab.name!r}")
            seen[key] = lab.name
        for lab in labels:
            for alias in lab.aliases:
                key = str(alias).strip().casefold()
                if key in seen and seen[key] != lab.name:
                    raise UserError(f"gold alias {alias!r} of label {lab.name!r} is already used by {seen[key]!r}")
                seen[key] = lab.name
        words = [lab.word.strip().casefold() for lab in labels]
        if len(set(words)) != len(words):
            raise UserError(f"two labels share a verbalizer: {[lab.word for lab in labels]}")
        object.__setattr__(self, "_lookup", seen)

    # ----------------------------------------------------------------------------- access
    @property
    def names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    @property
    def words(self) -> list[str]:
        return [lab.word for lab in self.labels]

    def __len__(self) -> int:
        return len(self.labels)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise UserError(f"unknown label {name!r}; labels are {', '.join(self.names)}") from None

    def normalize(self, raw: Any) -> str:
        """A raw gold value, alias or label name (case-insensitive) -> the canonical label name."""
        key = str(raw).strip()
        if isinstance(raw, float) and raw.is_integer():  # 1.0 from pandas-ish sources
            key = str(int(raw))
        hit = self._lookup.get(key.casefold())  # type: ignore[attr-defined]
        if hit is None:
            raise UserError(f"gold label {str(raw)[:60]!r} is not in the label set ({', '.join(self.names)}); add it as an alias")
        return hit

    def parse_answer(self, text: str) -> str | None:
        """Map a teacher's free-text answer to a label name, or None when it cannot be mapped.

        Exact (case-insensitive) matches of a name, verbalizer or alias first; else the label whose
        name/verbalizer occurs first in the text, if exactly one label matches at that position.
        """
        import re

        t = " ".join(str(text).split()).strip().strip(" .,:;!\"'`*()[]{}").casefold()
        if not t:
            return None
        for lab in self.labels:
            if t in {lab.name.casefold(), lab.word.strip().casefold()}:
                return lab.name
        hit = self._lookup.get(t)  # type: ignore[attr-defined]
        if hit is not None:
            return hit
        best: tuple[int, int] | None = None
        winners: set[str] = set()
        for lab in self.labels:
            for cand in {lab.name, lab.word.strip()}:
                m = re.search(r"(?<![\w/])" + re.escape(cand.casefold()) + r"(?![\w/])", t)
                if m:
                    pos = (m.start(), -len(cand))
                    if best is None or pos < best:
                        best, winners = pos, {lab.name}
                    elif pos == best:
                        winners.add(lab.name)
        if best is not None and len(winners) == 1:
            return winners.pop()
        return None

    # ----------------------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict:
        d: dict[str, Any] = {"labels": [lab.to_dict() for lab in self.labels]}
        if self.task:
            d["task"] = self.task
        if self.preset:
            d["preset"] = self.preset
        if self.data:
            d["data"] = dict(self.data)
        if self.prompt:
            d["prompt"] = dict(self.prompt)
        return d

    @classmethod
    def from_dict(cls, d: Any, *, source: str = "label set") -> "LabelSet":
        if isinstance(d, list):
            d = {"labels": d}
        if not isinstance(d, dict) or "labels" not in d:
            raise UserError(f"{source}: expected a mapping with a 'labels' list (or a list of labels)")
        raw = d["labels"]
        if isinstance(raw, dict):  # {"negative": {...}, "positive": "..."} or {0: negative}
            items = []
            for k, v in raw.items():
                if isinstance(v, dict):
                    items.append({"name": str(k), **v})
                elif isinstance(v, str) and str(k).isdigit():  # 0: negative
                    items.append({"name": v, "aliases": [str(k)]})
                else:
                    items.append({"name": str(k), "description": v})
            raw = items
        if not isinstance(raw, list):
            raise UserError(f"{source}: 'labels' must be a list")
        labels = []
        for i, item in enumerate(raw):
            if isinstance(item, (str, int)):
                labels.append(Label(name=str(item)))
                continue
            if not isinstance(item, dict) or "name" not in item:
                raise UserError(f"{source}: label #{i + 1} must be a name or a mapping with 'name'")
            unknown = set(item) - {"name", "description", "verbalizer", "aliases"}
            if unknown:
                raise UserError(f"{source}: label {item['name']!r} has unknown keys {sorted(unknown)}")
            aliases = item.get("aliases") or ()
            if isinstance(aliases, (str, int)):
                aliases = (aliases,)
            verb = item.get("verbalizer")
            if verb is not None and not str(verb).strip():
                raise UserError(f"{source}: label {item['name']!r} has an empty verbalizer")
            labels.append(
                Label(
                    name=str(item["name"]),
                    description=(str(item["description"]) if item.get("description") else None),
                    verbalizer=(str(verb) if verb is not None else None),
                    aliases=tuple(str(a) for a in aliases),
                )
            )
        data = d.get("data") or {}
        if not isinstance(data, dict):
            raise UserError(f"{source}: 'data' must be a mapping")
        prompt = d.get("prompt") or {}
        if not isinstance(prompt, dict):
            raise UserError(f"{source}: 'prompt' must be a mapping (input/output field names)")
        return cls(labels=tuple(labels), task=d.get("task"), preset=d.get("preset"), data=data, prompt=prompt)

    @classmethod
    def from_file(cls, path: str | Path) -> "LabelSet":
        from core.yamlfile import read_json, read_yaml

        path = Path(path)
        if path.is_file() and path.stat().st_size == 0:
            raise UserError(f"label file {path} is empty")
        # the bounded reader: size limit, no YAML aliases, one-line errors
        obj = read_json(path, "label file") if path.suffix.lower() == ".json" else read_yaml(path, "label file")
        if obj is None:
            raise UserError(f"label file {path} is empty")
        return cls.from_dict(obj, source=str(path))

    @classmethod
    def from_spec(cls, spec: "str | LabelSet") -> "LabelSet":
        """``"neg,pos"``, ``"0=neg,1=pos"``, a .yaml/.yml/.json path, or a preset name."""
        if isinstance(spec, LabelSet):
            return spec
        if spec is None or not str(spec).strip():
            raise UserError("no label set given (use e.g. --labels negative,positive or --labels sst2)")
        spec = str(spec).strip()
        p = Path(spec).expanduser()
        if p.suffix.lower() in {".yaml", ".yml", ".json"} or p.is_file():
            return cls.from_file(p)
        if spec in preset_names():
            ls = cls.from_file(PRESETS_DIR / f"{spec}.yaml")
            if ls.preset is None:
                object.__setattr__(ls, "preset", spec)
            return ls
        if "," not in spec:
            raise UserError(
                f"label spec {spec!r} is not a file, not a preset ({', '.join(preset_names())}) "
                "and has fewer than two labels (give e.g. negative,positive)"
            )
        labels = []
        for item in spec.split(","):
            item = item.strip()
            if not item:
                raise UserError(f"label spec {spec!r} has an empty label name")
            if "=" in item:
                alias, name = (s.strip() for s in item.split("=", 1))
                labels.append(Label(name=name, aliases=(alias,) if alias else ()))
            else:
                labels.append(Label(name=item))
        return cls(labels=tuple(labels))


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
