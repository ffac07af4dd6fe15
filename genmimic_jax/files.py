"""Files at the boundary: bounded readers for untrusted input and the one atomic writer for every output.

Reading: `open_npz` checks an `.npz` file's members from its zip header (sizes, array headers) before any array is
read; `read_text` and `load_json` bound sizes and nesting (`genmimic_jax.limits`).

Writing: `write_atomic` writes to a hidden temporary file beside the target, syncs it and renames it into place, so a
reader never sees a half-written output; files get the usual umask-respecting mode. The overwrite rule is checked
first (`check_output`): an output never replaces an input of the same run, nor an existing file of another kind
(a file this writer would not have written, e.g. a run's config.json under an ONNX export) unless `overwrite`.
Temporary files left by killed processes are removed by the next write into the same folder.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import secrets
import socket
import time
import zipfile
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

import numpy as np

from genmimic_jax import limits
from genmimic_jax.errors import InputError, OutputError, one_line

PathLike = str | os.PathLike

# Kinds of file the project writes, as `file_kind` recognises them.
KINDS = ("human_motion", "robot_motion", "rollout", "body_model", "npz", "run_config", "json", "png", "gif", "mp4",
         "onnx", "bvh", "pickle", "text")
_DESCRIPTIONS = {
    "human_motion": "a human motion", "robot_motion": "a robot motion", "rollout": "an evaluation rollout",
    "body_model": "a body model", "npz": "an .npz archive", "run_config": "a run's config", "json": "a JSON file",
    "png": "a PNG image", "gif": "a GIF animation", "mp4": "an MP4 video", "onnx": "an ONNX model", "bvh": "a BVH file",
    "pickle": "a pickle", "text": "a text file", "other": "a file of another program",
}
# The members that make an .npz file one of the project's kinds (checked in this order).
_NPZ_KEYS = {
    "robot_motion": {"qpos", "keypoints", "keypoint_names"}, "rollout": {"qpos", "reference_keypoints"},
    "human_motion": {"positions", "fps", "joint_names"}, "body_model": {"v_template", "shapedirs"},
}
_TEMPORARY = re.compile(r"^\..+?\.(?P<pid>\d+)@(?P<host>[^/]+)\.[0-9a-f]{8}\.tmp$")
_FOREIGN_TEMPORARY_AGE_S = 24 * 3600.0  # temporaries of another host are removed once this old


# ----------------------------------------------------------------------------------------------------------- reading


def check_npz(path: PathLike, error_type: type[InputError] = InputError) -> None:
    """Checks an `.npz` file from its zip header and array headers, before anything is decompressed.

    Raises:
      error_type: not a readable `.npz` file, a member that is not a plain `.npy` array, or an array header that claims
        more data than its member holds.
      LimitError: members larger than `limits.MAX_ARRAY_BYTES` or `limits.MAX_NPZ_BYTES` in all.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            limits.check_bytes(str(path), "the uncompressed .npz", sum(m.file_size for m in members),
                               limits.MAX_NPZ_BYTES)
            for member in members:
                _check_npy_member(path, archive, member, error_type)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as error:
        if isinstance(error, InputError):
            raise
        raise error_type(f"{path}: cannot read as .npz ({one_line(error)})") from None


def _check_npy_member(path: PathLike, archive: zipfile.ZipFile, member: zipfile.ZipInfo,
                      error_type: type[InputError]) -> None:
    name = f"{path}: member {member.filename}"
    limits.check_bytes(name, "array", member.file_size, limits.MAX_ARRAY_BYTES)
    if not member.filename.endswith(".npy"):
        raise error_type(f"{name} is not a .npy array")
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = header(stream)
    if dtype.hasobject:
        return  # never read: np.load(allow_pickle=False) refuses it with its own message
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if claimed > member.file_size:
        raise error_type(f"{name} claims {claimed:,} bytes of data but holds {member.file_size:,}")


def open_npz(path: PathLike, error_type: type[InputError] = InputError) -> Any:
    """`np.load(path, allow_pickle=False)` after `check_npz`; use as a context manager."""
    check_npz(path, error_type)
    return np.load(path, allow_pickle=False)


def read_text(path: PathLike, error_type: type[InputError] = InputError, what: str = "text",
              encoding: str = "utf-8") -> str:
    """A text file of at most `limits.MAX_TEXT_BYTES`, read whole; `error_type` names it when unreadable."""
    try:
        limits.check_bytes(str(path), "the file", os.stat(path).st_size, limits.MAX_TEXT_BYTES)
        return pathlib.Path(path).read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as error:
        raise error_type(f"{path}: cannot read as {what} ({one_line(error)})") from None


def load_json(path: PathLike, error_type: type[InputError] = InputError) -> Any:
    """A JSON file, bounded in size and nesting (`limits`); `error_type` names it when unreadable or malformed."""
    text = read_text(path, error_type, "JSON text")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise error_type(f"{path}: malformed JSON at line {error.lineno} column {error.colno}: {error.msg}") from None
    except RecursionError:
        raise limits.LimitError(f"{path}: nested deeper than {limits.MAX_NESTING_DEPTH} levels") from None
    limits.check_depth(str(path), nesting_depth(value))
    return value


def nesting_depth(value: Any) -> int:
    """How deeply lists, tuples and dicts nest in `value` (0 for a scalar); iterative, so any depth is measured."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, (list, tuple)):
            deepest = max(deepest, depth + 1)
            pending.extend((child, depth + 1) for child in item)
    return deepest


# ----------------------------------------------------------------------------------------------------------- writing


def file_kind(path: PathLike) -> str:
    """What an existing file is, from its first bytes (and an `.npz` file's member names): one of `KINDS`,
    `'empty'` or `'other'`."""
    path = pathlib.Path(path)
    with open(path, "rb") as file:
        head = file.read(64)
    if not head:
        return "empty"
    if head.startswith(b"PK"):
        return _npz_kind(path)
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"GIF8"):
        return "gif"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.lstrip().startswith(b"HIERARCHY"):
        return "bvh"
    if head.lstrip()[:1] in (b"{", b"["):
        return _json_kind(path)
    if head[:1] == b"\x08" and path.suffix == ".onnx":  # ModelProto field 1 (ir_version), as onnx writes it first
        return "onnx"
    if b"\0" not in head and _is_utf8(head):
        return "text"
    return "other"


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start > len(head) - 4  # a character cut at the end of the sample
    return True


def _npz_kind(path: pathlib.Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = {name.removesuffix(".npy") for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return "other"
    for kind, keys in _NPZ_KEYS.items():
        if keys <= names:
            return kind
    return "npz"


def _json_kind(path: pathlib.Path) -> str:
    try:
        value = json.loads(path.read_text(encoding="utf-8")) if path.stat().st_size < (1 << 24) else None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return "other"
    return "run_config" if isinstance(value, dict) and {"runs_dir", "name"} <= value.keys() else "json"


def check_output(path: PathLike, kind: str, *, inputs: Iterable[PathLike] = (), overwrite: bool = False) -> None:
    """Refuses an output path before any work: see the module docstring for the rule.

    Args:
      path: the file to be written.
      kind: what will be written there (one of `KINDS`).
      inputs: the files this run reads; the output may never be one of them.
      overwrite: allow replacing an existing file of another kind (never an input).

    Raises:
      OutputError: one line naming the path and why it cannot be written.
    """
    path = pathlib.Path(path)
    for source in inputs:
        if _same_file(path, pathlib.Path(source)):
            raise OutputError(f"{path}: the output would overwrite the input {source}")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file path for the output")
    folder = _nearest_existing(path.parent)
    if not folder.is_dir():
        raise OutputError(f"{path}: cannot be created: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"{path}: not writable (permission denied)")
    if path.exists() and not overwrite:
        existing = file_kind(path)
        if existing not in (kind, "empty"):
            raise OutputError(f"{path}: exists and holds {_DESCRIPTIONS[existing]}, not {_DESCRIPTIONS[kind]}; "
                              "refusing to replace it (pass --overwrite, or choose another path)")


def _same_file(a: pathlib.Path, b: pathlib.Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _nearest_existing(folder: pathlib.Path) -> pathlib.Path:
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def make_folder(folder: PathLike) -> pathlib.Path:
    """Creates an output folder (and its parents); `OutputError` naming it when it cannot be created."""
    folder = pathlib.Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{folder}: cannot create the output folder ({one_line(error)})") from None
    return folder


def write_atomic(path: PathLike, write: Callable[[BinaryIO], None], kind: str, *,
                 inputs: Iterable[PathLike] = (), overwrite: bool = False) -> pathlib.Path:
    """Writes a file atomically after `check_output`: `write(file)` fills a temporary file, which replaces `path`.

    The parent folder is created. On any exception (KeyboardInterrupt included) the temporary file is removed and
    `path` is untouched. Returns `path`.
    """
    path = pathlib.Path(path)
    check_output(path, kind, inputs=inputs, overwrite=overwrite)
    make_folder(path.parent)
    remove_stale_temporaries(path.parent)
    temporary = path.parent / f".{path.name}.{os.getpid()}@{socket.gethostname()}.{secrets.token_hex(4)}.tmp"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({one_line(error)})") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_json(path: PathLike, data: Any, kind: str = "json", *, inputs: Iterable[PathLike] = (),
               overwrite: bool = False, sort_keys: bool = False) -> pathlib.Path:
    """`write_atomic` of `data` as indented JSON text."""
    text = json.dumps(data, indent=2, sort_keys=sort_keys)
    return write_atomic(path, lambda file: file.write(text.encode("utf-8")), kind, inputs=inputs, overwrite=overwrite)


def remove_stale_temporaries(folder: PathLike) -> list[pathlib.Path]:
    """Removes the temporary files of `write_atomic` in `folder` whose process is gone (same host) or that are a day
    old (another host); returns them."""
    removed = []
    host = socket.gethostname()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        if match["host"] == host:
            stale = not _process_alive(int(match["pid"]))
        else:
            stale = time.time() - entry.stat().st_mtime > _FOREIGN_TEMPORARY_AGE_S
        if stale:
            pathlib.Path(entry.path).unlink(missing_ok=True)
            removed.append(pathlib.Path(entry.path))
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
