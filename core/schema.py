"""One declaration per setting: the dataclass field is the schema.

Each concern's configuration is a dataclass (``DistillationConfig`` for the ``training:`` section,
``TeacherConfig`` for ``teacher:``, ``ExportConfig`` for ``export:``...) whose fields are declared
with :func:`setting`: default, help text, kind, choices and the command-line flag. From that one
declaration come

* the config file's section (``advisor.pipeline.config`` builds its schema from the classes),
* the click option of the command that sets it (:func:`option`: flag, type, default, help),
* the validation, with the setting named in the caller's terms: ``--lr`` on the command line,
  ``training.lr`` in a config file (:func:`check_settings`; numeric ranges from ``core.limits``).

    @dataclass
    class DistillationConfig:
        SECTION: ClassVar[str] = "training"
        lr: float = setting(1e-4, "Peak learning rate.")

    @option(DistillationConfig, "lr")          # --lr, FLOAT in (0, 1], default 0.0001
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from core.errors import UserError
from core.limits import LIMITS, check_field
from core.numbers import Number, check_number, parse_budget, short_repr

KINDS = ("bool", "int", "float", "str", "path", "model", "labels", "list", "budget")


def setting(default: Any = None, help: str = "", *, kind: str | None = None, choices: Iterable[str] | None = None,
            flag: str | None = None, yaml: bool = True, cli: bool = True) -> Any:
    """A dataclass field that is a user-facing setting.

    ``kind``: derived from the default's type when not given (``None`` defaults must name it);
    ``path``/``model`` are strings resolved against the config file's folder (``model`` keeps URLs
    and named models). ``flag``: the command-line spelling (default ``--field-name``). ``yaml`` /
    ``cli``: whether the config file / the commands expose it."""
    if kind is None:
        kind = {bool: "bool", int: "int", float: "float", str: "str"}.get(type(default))
        if kind is None:
            raise TypeError(f"setting(default={default!r}) needs kind=")
    if kind not in KINDS:
        raise TypeError(f"unknown setting kind {kind!r}")
    meta = {"setting": True, "help": help, "kind": kind, "choices": tuple(choices) if choices else None,
            "flag": flag, "yaml": yaml, "cli": cli}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def settings(cls) -> list[dataclasses.Field]:
    """The fields of ``cls`` declared with :func:`setting`, in declaration order."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("setting")]


def meta(cls, name: str) -> dict:
    for f in dataclasses.fields(cls):
        if f.name == name and f.metadata.get("setting"):
            return dict(f.metadata)
    raise KeyError(f"{cls.__name__} has no setting {name!r}")


def default(cls, name: str) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def flag(cls, name: str) -> str:
    return meta(cls, name)["flag"] or "--" + name.replace("_", "-")


def key(cls, name: str) -> str:
    """The setting's config-file key: ``training.lr``."""
    return f"{cls.SECTION}.{name}" if getattr(cls, "SECTION", "") else name


def check_value(cls, name: str, value: Any, where: str) -> Any:
    """One setting's value checked (type, range from ``core.limits``, choices); the error names
    ``where`` (``--lr`` or ``config: training.lr``). ``None`` passes (unset)."""
    m = meta(cls, name)
    kind = m["kind"]
    if value is None:
        return None
    if kind == "bool":
        if not isinstance(value, bool):
            raise UserError(f"{where}: expected true or false, got {short_repr(value)}")
    elif kind in ("int", "float"):
        if isinstance(value, str):  # a YAML string is not a number
            raise UserError(f"{where}: expected {'an integer' if kind == 'int' else 'a number'}, "
                            f"got {short_repr(value)}")
        if key(cls, name) in LIMITS:
            value = check_field(key(cls, name), value, where)
        else:
            value = check_number(value, where, int if kind == "int" else float, 0, None)
    elif kind == "budget":  # calls (int >= 1) or a share of the pool (0.25, "25%")
        value = parse_budget(value, where)
    elif kind in ("str", "path", "model"):
        if not isinstance(value, str) or not value.strip():
            raise UserError(f"{where}: expected a non-empty string, got {short_repr(value)}")
    if m["choices"] and value not in m["choices"]:
        raise UserError(f"{where}: expected one of {', '.join(m['choices'])}, got {short_repr(value)}")
    return value


def check_settings(obj, cli: bool = True):
    """Every setting of the dataclass instance ``obj`` checked in place; errors name the flag
    (``cli=True``) or the config key. Returns ``obj``."""
    cls = type(obj)
    for f in settings(cls):
        where = flag(cls, f.name) if cli else f"config: {key(cls, f.name)}"
        setattr(obj, f.name, check_value(cls, f.name, getattr(obj, f.name), where))
    return obj


def option(cls, name: str, *decls: str, **overrides):
    """The click option that sets ``cls.name``: flag, type (ranges from ``core.limits``), default and
    help all from the field. ``decls`` replaces the flag spelling (e.g. ``"--teacher", "teacher"``);
    ``overrides`` any click keyword (``default=None`` where the command resolves it later)."""
    import click

    m = meta(cls, name)
    kind = m["kind"]
    dflt = default(cls, name)
    kw: dict[str, Any] = {"help": m["help"] or None}
    names = decls or (flag(cls, name),)
    if kind == "bool":
        if dflt and "/" not in names[0]:  # on by default: --x/--no-x
            names = (f"{names[0]}/--no-{names[0][2:]}", *names[1:])
        kw.update(is_flag=True, default=dflt, show_default=bool(dflt))
    else:
        if m["choices"]:
            kw["type"] = click.Choice(m["choices"])
        elif kind in ("int", "float"):
            k = key(cls, name)
            kw["type"] = Number(*_limits(k)) if k in LIMITS else Number(int if kind == "int" else float, 0, None)
        kw.update(default=dflt, show_default=dflt is not None)
    kw.update(overrides)
    return click.option(*names, **kw)


def _limits(k: str) -> tuple:
    kind, lo, hi, *rest = LIMITS[k]
    return kind, lo, hi, (rest[0] if rest else "")


def options(cls, *, exclude: Iterable[str] = (), prefixed: bool = True, **special):
    """Every command-line setting of ``cls`` as a flag (a decorator). ``prefixed``: the command
    receives them as ``SECTION__name`` keywords, to be turned back into ``cls`` by :func:`collect`
    (so two sections may share a field name); ``special[name]``: other click keywords for one."""
    def deco(func):
        for f in reversed([f for f in settings(cls) if f.metadata["cli"] and f.name not in exclude]):
            decls = (flag(cls, f.name), f"{cls.SECTION}__{f.name}") if prefixed else ()
            func = option(cls, f.name, *decls, **special.get(f.name, {}))(func)
        return func
    return deco


def collect(cls, kwargs: dict):
    """The ``cls`` instance spelled by the prefixed flags of :func:`options` (popped from ``kwargs``),
    checked; errors name the flags."""
    prefix = cls.SECTION + "__"
    values = {k[len(prefix):]: kwargs.pop(k) for k in list(kwargs) if k.startswith(prefix)}
    return check_settings(cls(**values), cli=True)
