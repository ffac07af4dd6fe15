"""Training logs: TensorBoard event files (tensorboardX), a line per chunk on stdout, a progress bar.

Tags are grouped by their first component, in TensorBoard as on stdout: `episode/`, `env/`, `reward/<term>`,
`termination/<kind>`, `loss/`, `policy/`, `optim/`, `symmetry/`, `distill/`, `time/`; the run config is a text
summary. `read_scalars` reads the event files back (for plots) without needing TensorFlow or TensorBoard.
"""

import itertools
import json
import math
import os
import pathlib
import struct
import sys
import time

import ml_collections
import numpy as np
import tensorboardX
import tqdm
from tensorboardX.record_writer import masked_crc32c
from tensorboardX.proto import event_pb2

from genmimic_jax.errors import InputError

# The tags of the per-chunk stdout line, in its order (those a run has).
SUMMARY_KEYS = ("episode/return", "episode/length", "env/keypoint_error", "loss/policy", "loss/value",
                "policy/kl", "symmetry/actor_error", "distill/action_error")


class LogReadError(InputError):
    """An event file is corrupt or a log directory has no event files."""


class Logger:
    """Writes per-update scalars; shows progress over `total_updates`.

    The progress bar is drawn only on a terminal; elsewhere (a log file, a pipe) the per-chunk lines, which say
    `update <done>/<total>`, are the progress.

    Args:
      logdir: directory for the event files.
      total_updates: updates of the whole run.
      start_update: updates already done (a resumed run).
      enabled: False on all but the first process of a multi-host run.
      config: the run config, written as a text summary (TensorBoard's Text tab).
    """

    def __init__(self, logdir: str | pathlib.Path, total_updates: int, start_update: int = 0, enabled: bool = True,
                 config: ml_collections.ConfigDict | None = None):
        self.enabled = enabled
        self.total_updates = total_updates
        if not enabled:
            return
        # Event files are named by the second they were opened in: the suffix keeps a resumed session that starts
        # within the same second from overwriting the previous session's file.
        self.writer = tensorboardX.SummaryWriter(str(logdir), filename_suffix=f".{os.getpid()}.{time.time_ns()}")
        if config is not None:
            text = json.dumps(config.to_dict(), indent=2, sort_keys=True)
            self.writer.add_text("config", "    " + text.replace("\n", "\n    "), start_update)  # a code block
        self.bar = tqdm.tqdm(total=total_updates, initial=start_update, unit="update", dynamic_ncols=True,
                             disable=not sys.stderr.isatty())

    def write(self, step: int, scalars: dict[str, float]) -> None:
        """Adds one value per tag at `step` (non-finite values are skipped)."""
        if not self.enabled:
            return
        for tag, value in scalars.items():
            if math.isfinite(value):
                self.writer.add_scalar(tag, value, step)

    def log_chunk(self, last_step: int, metrics: dict[str, np.ndarray], timing: dict[str, float]) -> None:
        """Logs a chunk of updates ending at `last_step`.

        Args:
          last_step: update count after the chunk.
          metrics: tag -> [num_updates_in_chunk] values, one per update.
          timing: chunk-level scalars (e.g. steps/s) logged at `last_step`.
        """
        if not self.enabled:
            return
        num = len(next(iter(metrics.values())))
        for i in range(num):
            self.write(last_step - num + 1 + i, {tag: float(values[i]) for tag, values in metrics.items()})
        self.write(last_step, timing)
        self.writer.flush()
        summary = {tag: float(np.nanmean(metrics[tag])) for tag in SUMMARY_KEYS
                   if tag in metrics and np.isfinite(metrics[tag]).any()}
        summary.update(timing)
        self.bar.write(f"update {last_step}/{self.total_updates} | {summary_line(summary)}")
        self.bar.update(num)

    def close(self) -> None:
        if self.enabled:
            self.writer.close()
            self.bar.close()


def summary_line(scalars: dict[str, float]) -> str:
    """'episode: return=1.2 length=90 | loss: policy=0.1': the scalars grouped by their tags' first component."""
    groups = itertools.groupby(scalars.items(), key=lambda item: item[0].partition("/")[0])
    return " | ".join(f"{group}: " + " ".join(f"{tag.partition('/')[2]}={value:.4g}" for tag, value in items)
                     for group, items in groups)


def _records(path: pathlib.Path):
    """The payloads of a TFRecord file; stops at a truncated last record (a file still being written)."""
    data = path.read_bytes()
    offset = 0
    while offset + 12 <= len(data):
        header = data[offset:offset + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
        if masked_crc32c(header) != header_crc:
            raise LogReadError(f"{path}: corrupt record header at byte {offset}")
        end = offset + 12 + length + 4
        if end > len(data):
            return
        payload = data[offset + 12:offset + 12 + length]
        (payload_crc,) = struct.unpack("<I", data[end - 4:end])
        if masked_crc32c(payload) != payload_crc:
            raise LogReadError(f"{path}: corrupt record at byte {offset}")
        yield payload
        offset = end


def read_scalars(logdir: str | pathlib.Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All scalars in the event files under `logdir`: tag -> (steps, values), sorted by step."""
    files = sorted(pathlib.Path(logdir).rglob("events.out.tfevents.*"))
    if not files:
        raise LogReadError(f"{logdir}: no TensorBoard event files")
    series: dict[str, dict[int, float]] = {}
    for path in files:
        for payload in _records(path):
            event = event_pb2.Event.FromString(payload)
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    series.setdefault(value.tag, {})[event.step] = value.simple_value
    result = {}
    for tag, points in series.items():
        steps = np.array(sorted(points))
        result[tag] = (steps, np.array([points[s] for s in steps]))
    return result
