"""Run directories: one writer at a time, one set of inputs per directory, damaged state redone.

* :func:`run_lock` -- an exclusive lock on ``RUN_DIR/.lock`` (``fcntl.flock``: the kernel drops it
  when the holder dies, even on ``kill -9``). A second command on the same directory is refused at
  once, naming the holder (command, pid, host, start time). Re-entrant within one process (the
  pipeline runs the label and train commands in-process).
* :func:`check_run_inputs` -- a run directory belongs to one data file and one label set (the
  *identity* recorded in ``teacher.json``); labelling other data or other labels into it is refused
  with the difference named, instead of silently overwriting ``labels.jsonl``. A different sample,
  limit, teacher or prompt of the same data is the same run (the cache is keyed by teacher and
  prompt).
* :func:`read_state` -- a state file (``pipeline.json``, a checkpoint's metadata) that is missing is
  ``None``; one that is damaged (truncated, not JSON) is reported on stderr and treated as missing,
  so the stage it describes is redone instead of blocking the run.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from core.errors import UserError

LOCK_NAME = ".lock"
# what a labelling run writes into RUN_DIR (the teacher's labels, its label set, the teacher that made them),
# read back by training, evaluation, export and the pipeline
LABELS_FILE = "labels.jsonl"
LABELSET_FILE = "labelset.json"
TEACHER_FILE = "teacher.json"
_HELD: dict[str, list] = {}  # realpath -> [fd, depth]
_HELD_LOCK = threading.Lock()


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def prepare_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Create ``path`` (and parents) as a directory, or a one-line UserError naming ``flag``."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise UserError(f"{flag} {p} exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"{flag} {p}: a parent of it is a file, not a directory") from None
    except NotADirectoryError:
        raise UserError(f"{flag} {p}: a parent of it is a file, not a directory") from None
    except PermissionError:
        raise UserError(f"{flag} {p}: permission denied (cannot create the directory)") from None
    except OSError as exc:
        raise UserError(f"{flag} {p}: cannot create the directory ({exc.strerror or type(exc).__name__})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {p}: the directory is not writable")
    return p


def check_creatable(path: str | os.PathLike, flag: str = "--out") -> None:
    """Refuse, without creating anything, a directory path that cannot be created or written:
    the nearest existing ancestor must be a writable directory."""
    p = Path(path).expanduser().absolute()
    cur = p
    while not os.path.lexists(cur):
        if cur.parent == cur:
            break
        cur = cur.parent
    if not cur.is_dir():
        what = "exists and is not a directory" if cur == p else f"is inside {cur}, which is not a directory"
        raise UserError(f"{flag} {path} {what}")
    if not os.access(cur, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: {cur} is not writable" if cur != p else f"{flag} {path} is not writable")
    if str(p).startswith(("/proc/", "/sys/")) or str(p) in ("/proc", "/sys"):
        raise UserError(f"{flag} {path} is inside a virtual file system; choose a real directory")


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or not info:
        return "another process"
    return (f"{info.get('command', 'another command')} (pid {info.get('pid', '?')} on {info.get('host', '?')}, "
            f"since {info.get('started', '?')})")


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, command: str, flag: str = "--out") -> Iterator[Path]:
    """Hold the exclusive lock of ``run_dir`` (created if needed) for the ``with`` block."""
    run = prepare_dir(run_dir, flag)
    key = os.path.realpath(run)
    with _HELD_LOCK:
        if key in _HELD:  # this process already holds it (the pipeline running a stage command)
            _HELD[key][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield run
        finally:
            with _HELD_LOCK:
                _HELD[key][1] -= 1
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield run
        return
    path = run / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise UserError(f"cannot lock the run directory {run} ({exc.strerror or type(exc).__name__})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"run directory {run} is in use by {_holder(fd)}; wait for it to finish or choose "
                            f"another {flag}") from None
        info = {"command": command, "pid": os.getpid(), "host": socket.gethostname(),
                "started": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        with _HELD_LOCK:
            _HELD[key] = [fd, 1]
        try:
            yield run
        finally:
            with _HELD_LOCK:
                _HELD.pop(key, None)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_state(path: str | os.PathLike, what: str, warn: Callable[[str], None] | None = None) -> Any:
    """JSON state file -> its object; missing -> None; damaged -> reported, None (the stage is redone)."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError, RecursionError) as exc:
        (warn or _warn)(f"{what} {p} is damaged ({type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}); "
                        f"ignoring it, the work it records is redone")
        return None


# ------------------------------------------------------------------------------ run identity
def data_digest(path: str | os.PathLike) -> str:
    """sha256 of a data file (or of a datasets folder's files: names and contents)."""
    from core.hashing import tree_digest

    return tree_digest(path)


def run_identity(data_source: str, labels: list[str]) -> dict:
    src = Path(data_source).expanduser()
    ident = {"data": str(src.resolve()), "labels": list(labels)}
    if src.exists():
        ident["data_sha256"] = data_digest(src)
    return ident


def check_run_inputs(run_dir: str | os.PathLike, identity: dict, flag: str = "--out") -> None:
    """Refuse to label into a run directory that holds labels of other data or another label set."""
    run = Path(run_dir)
    if not (run / LABELS_FILE).is_file():
        return
    meta = read_state(run / TEACHER_FILE, "run file")
    old = (meta or {}).get("run_identity") if isinstance(meta, dict) else None
    if not isinstance(old, dict):
        return  # a run from before identities were recorded, or teacher.json damaged: nothing to compare
    diffs = []
    if old.get("labels") != identity["labels"]:
        diffs.append(f"labels {', '.join(map(str, old.get('labels') or []))} there, "
                     f"{', '.join(identity['labels'])} now")
    if old.get("data_sha256") and identity.get("data_sha256") and old["data_sha256"] != identity["data_sha256"]:
        same_path = old.get("data") == identity["data"]
        diffs.append(f"data {old.get('data')} there, {identity['data']} now"
                     + (" (the file changed since)" if same_path else ""))
    elif not old.get("data_sha256") and old.get("data") != identity["data"]:
        diffs.append(f"data {old.get('data')} there, {identity['data']} now")
    if diffs:
        raise UserError(f"{flag} {run} holds the labels of another run ({'; '.join(diffs)}); choose another "
                        f"{flag}, or delete {run / LABELS_FILE} to relabel this directory")
