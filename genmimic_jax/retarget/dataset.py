"""Retargeting a dataset: its files as jobs, streamed through batches of one length, resumable.

`list_jobs` turns a folder (searched recursively, its sub-folders kept in the output layout, as AMASS's subject
folders), a list file or one file into jobs. `retarget_stream` retargets them with three threads: a reader loads and
prepares the next batches (numpy) while the solver runs the current one, and a writer computes the reports and hands
each finished clip on. Every batch is padded to the same length, so the solver compiles once per run (a clip longer
than a batch is solved alone, padded to its bucket length); at most `prefetch` batches wait between the threads, so
memory stays bounded whatever the number of clips.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import jax

from genmimic_jax.errors import InputError
from genmimic_jax.human.motion import HumanMotion
from genmimic_jax.retarget import io, optimize
from genmimic_jax.retarget.pipeline import Prepared, Retargeted, Retargeter

LIST_SUFFIXES = (".txt",)  # a list file: one motion path per line (relative to the list's folder), '#' comments
NOT_MOTIONS = ("shape.npz",)  # AMASS keeps each subject's body shape (betas only) beside its motions


@dataclasses.dataclass(frozen=True)
class Job:
    """One motion file to retarget: `source`, the `output` .npz and its `name` (the source's relative path)."""

    source: pathlib.Path
    output: pathlib.Path
    name: str


def _hidden(path: pathlib.Path, root: pathlib.Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _list_file(path: pathlib.Path) -> list[pathlib.Path]:
    files = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            file = (path.parent / entry).resolve()
            if not file.is_file():
                raise InputError(f"{path}:{number}: {entry}: no such file")
            files.append(file)
    return files


def list_jobs(source: str | os.PathLike, output: str | os.PathLike, suffixes: tuple[str, ...]) -> list[Job]:
    """The jobs of a folder (motion files with `suffixes` below it; hidden ones and AMASS's `shape.npz` skipped), a
    list file (`LIST_SUFFIXES`) or one motion file. Outputs keep the sources' paths relative to the folder (for a list:
    to the folder all its files share), with the suffix `.npz`; one file goes to `output` itself.

    Raises:
      InputError: no such path, an entry of a list that is missing, or two sources that would write one output.
    """
    source, output = pathlib.Path(source), pathlib.Path(output)
    if source.is_dir():
        root = source
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in suffixes and p.name not in NOT_MOTIONS
                       and p.is_file() and not _hidden(p, source))
    elif source.is_file() and source.suffix.lower() in LIST_SUFFIXES:
        files = _list_file(source)
        root = pathlib.Path(os.path.commonpath([f.parent for f in files])) if files else source.parent
    elif source.is_file():
        return [Job(source, output, source.name)]
    else:
        raise InputError(f"{source}: no such file or folder")
    jobs, seen = [], {}
    for file in files:
        relative = file.relative_to(root)
        job = Job(file, output / relative.with_suffix(".npz"), relative.as_posix())
        if job.output in seen:
            raise InputError(f"{file}: would write the same output as {seen[job.output]} ({job.output})")
        seen[job.output] = file
        jobs.append(job)
    return jobs


def finished_report(path: pathlib.Path) -> dict | None:
    """The report of an earlier run's output when it is a valid retargeted motion with a report, else None."""
    if not path.is_file():
        return None
    try:
        io.load_robot_motion(path)
        return io.load_report(path) or None
    except InputError:
        return None


class CompileCounter:
    """Counts XLA compilations (and their seconds) in this process from JAX's monitoring events."""

    _count = 0
    _seconds = 0.0
    _registered = False

    @classmethod
    def start(cls) -> None:
        if not cls._registered:
            jax.monitoring.register_event_duration_secs_listener(cls._listen)
            cls._registered = True

    @classmethod
    def _listen(cls, event: str, duration: float, **_: Any) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            cls._count += 1
            cls._seconds += duration

    @classmethod
    def totals(cls) -> tuple[int, float]:
        """Compilations and their seconds since `start` (JAX reports compilations after it only)."""
        return cls._count, cls._seconds


class Progress:
    """Counts finished clips and frames and prints a progress line every `every` seconds (thread-safe)."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, every: float = 5.0):
        self.total, self.stream, self.every = total, stream, every
        self.clips = self.frames = self.failed = self.skipped = 0
        self.start = self._last = time.perf_counter()
        self._lock = threading.Lock()

    def update(self, clips: int = 0, frames: int = 0, failed: int = 0, skipped: int = 0) -> None:
        with self._lock:
            self.clips += clips
            self.frames += frames
            self.failed += failed
            self.skipped += skipped
            now = time.perf_counter()
            if now - self._last >= self.every:
                self._last = now
                print(self.line(), file=self.stream, flush=True)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def line(self) -> str:
        done = self.clips + self.failed + self.skipped
        return (f"{done}/{self.total} clips ({self.failed} failed, {self.skipped} already done), {self.frames} frames "
                f"in {self.seconds:.0f} s, {self.frames / max(self.seconds, 1e-9):.0f} frames/s")


_END = object()


@dataclasses.dataclass(frozen=True)
class _Failed:
    error: BaseException


def _put(channel: queue.Queue, item: object, give_up: Callable[[], bool]) -> bool:
    """Puts `item`, waiting while the queue is full unless `give_up()`; returns whether it was put."""
    while not give_up():
        try:
            channel.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _thread(body: Callable[[], None], out: queue.Queue | None, stop: threading.Event) -> threading.Thread:
    """A daemon thread running `body`, then putting _END (or _Failed) on `out`; a failure also sets `stop`."""
    failures: list[BaseException] = []

    def run():
        try:
            body()
        except BaseException as error:  # handed to the main thread, which raises it
            failures.append(error)
            stop.set()
        if out is not None:
            _put(out, _Failed(failures[0]) if failures else _END, lambda: False)

    thread = threading.Thread(target=run, daemon=True)
    thread.failures = failures
    thread.start()
    return thread


def retarget_stream(
    jobs: Iterable[Job],
    retargeter: Retargeter,
    load: Callable[[Job], HumanMotion],
    on_result: Callable[[Job, Retargeted], None],
    on_error: Callable[[Job, InputError], None],
    batch_frames: int,
    prefetch: int = 2,
) -> dict[str, float]:
    """Retargets `jobs` in batches padded to `batch_frames` frames (see the module docstring).

    Args:
      jobs: what to retarget, in order.
      retargeter: the retargeter (its config's weights and iterations).
      load: reads a job's human motion (called in the reader thread).
      on_result: called with each retargeted clip, in order (in the writer thread).
      on_error: called for each job whose motion cannot be loaded or prepared (an `InputError`; reader thread).
      batch_frames: the padded length of every batch.
      prefetch: batches waiting between the reader and the solver, and between the solver and the writer.

    Returns:
      seconds spent compiling, solving, and waiting for the reader (when waiting dominates, reading is the
      bottleneck).

    Raises:
      whatever `load`, `on_result` or the solver raise other than an `InputError` from loading.
    """
    to_solve: queue.Queue = queue.Queue(prefetch)
    to_write: queue.Queue = queue.Queue(prefetch)
    stop = threading.Event()

    def read() -> None:
        batch: list[tuple[Job, Prepared]] = []
        frames = 0
        for job in jobs:
            if stop.is_set():
                return
            try:
                prepared = retargeter.prepare(load(job))
            except InputError as error:
                on_error(job, error)
                continue
            if batch and frames + prepared.num_frames > batch_frames:
                if not _put(to_solve, batch, stop.is_set):
                    return
                batch, frames = [], 0
            batch.append((job, prepared))
            frames += prepared.num_frames
        if batch:
            _put(to_solve, batch, stop.is_set)

    def write() -> None:
        while (item := to_write.get()) is not _END:
            batch, solved = item
            for (job, _), result in zip(batch, retargeter.finish([p for _, p in batch], solved)):
                on_result(job, result)

    reader = _thread(read, to_solve, stop)
    writer = _thread(write, None, stop)
    seconds = {"compile": 0.0, "solve": 0.0, "wait_for_input": 0.0}
    try:
        clock = time.perf_counter()
        retargeter.compile(batch_frames)  # while the reader loads the first batch
        seconds["compile"] = time.perf_counter() - clock
        while True:
            clock = time.perf_counter()
            batch = to_solve.get()
            seconds["wait_for_input"] += time.perf_counter() - clock
            if batch is _END:
                break
            if isinstance(batch, _Failed):
                raise batch.error
            frames = sum(p.num_frames for _, p in batch)
            length = batch_frames if frames <= batch_frames else optimize.bucket_length(
                frames, retargeter.config.min_bucket)
            clock = time.perf_counter()
            solved = retargeter.solve([p for _, p in batch], length)
            seconds["solve"] += time.perf_counter() - clock
            if not _put(to_write, (batch, solved), lambda: not writer.is_alive()):
                break
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue
            try:
                to_solve.get(timeout=0.1)
            except queue.Empty:
                pass
        _put(to_write, _END, lambda: not writer.is_alive())
        writer.join()
    if writer.failures:
        raise writer.failures[0]
    return seconds
