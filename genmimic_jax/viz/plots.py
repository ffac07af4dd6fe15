"""Plots of evaluation results: per-clip metrics, noise-suite curves, sim-to-sim divergence (PNG files)."""

import os
import pathlib
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless back end)
import numpy as np  # noqa: E402

from genmimic_jax import files  # noqa: E402

PER_CLIP_METRICS = (("mpjpe_mm", "global MPJPE (mm)"), ("root_relative_mpjpe_mm", "root-relative MPJPE (mm)"),
                    ("end_effector_mm", "end-effector error (mm)"), ("joint_error_rad", "joint error (rad)"))
NOISE_METRICS = (("success_rate", "success rate (%)"), ("mpjpe_mm", "global MPJPE (mm)"),
                 ("root_relative_mpjpe_mm", "root-relative MPJPE (mm)"))


def _save(figure, path: str | os.PathLike) -> pathlib.Path:
    """Writes the figure with `files.write_atomic` and closes it."""
    try:
        return files.write_atomic(path, lambda file: figure.savefig(file, format="png", dpi=100, bbox_inches="tight"),
                                  "png")
    finally:
        plt.close(figure)


def plot_clip_metrics(per_clip: Mapping[str, Mapping[str, float]], path: str | os.PathLike) -> pathlib.Path:
    """Bars per clip of the main tracking errors; failed clips drawn in red."""
    names = list(per_clip)
    figure, axes = plt.subplots(1, len(PER_CLIP_METRICS), figsize=(4 * len(PER_CLIP_METRICS), 3 + 0.15 * len(names)))
    colors = ["tab:blue" if per_clip[n]["success"] else "tab:red" for n in names]
    for axis, (key, label) in zip(axes, PER_CLIP_METRICS):
        axis.barh(range(len(names)), [per_clip[n][key] for n in names], color=colors)
        axis.set_yticks(range(len(names)), names if axis is axes[0] else [""] * len(names), fontsize=7)
        axis.set_xlabel(label)
        axis.invert_yaxis()
    figure.suptitle("per-clip tracking (red: failed)")
    return _save(figure, path)


def plot_noise_suite(clean: Mapping[str, float], levels: Sequence[Mapping], path: str | os.PathLike) -> pathlib.Path:
    """Overall metrics against severity, one row per corruption: the mean over noise seeds, bars from the least to
    the largest seed; the clean score as a dashed line.

    Args:
      clean: overall metrics without corruption.
      levels: dicts with 'corruption', 'severity' and, per metric of `NOISE_METRICS`, {'mean', 'min', 'max'} over
        the noise seeds (`evaluate.noise_over_seeds`).
    """
    corruptions = list(dict.fromkeys(level["corruption"] for level in levels))
    figure, axes = plt.subplots(len(corruptions), len(NOISE_METRICS), figsize=(4 * len(NOISE_METRICS),
                                                                             2.4 * len(corruptions)), squeeze=False)
    for row, corruption in zip(axes, corruptions):
        rows = [level for level in levels if level["corruption"] == corruption]
        severities = [0.0] + [level["severity"] for level in rows]
        for axis, (key, label) in zip(row, NOISE_METRICS):
            mean = np.array([clean[key]] + [level[key]["mean"] for level in rows])
            low = mean - np.array([clean[key]] + [level[key]["min"] for level in rows])
            high = np.array([clean[key]] + [level[key]["max"] for level in rows]) - mean
            axis.errorbar(severities, mean, yerr=[low, high], fmt="o-", capsize=3)
            axis.axhline(clean[key], color="gray", linestyle="--", linewidth=0.8)
            axis.set_title(f"{corruption}: {label}", fontsize=9)
            axis.set_xlabel("severity")
    seeds = max(len(level.get("seeds", ())) for level in levels)
    if seeds > 1:
        figure.suptitle(f"mean over {seeds} noise seeds; bars from the least to the largest seed")
    figure.tight_layout()
    return _save(figure, path)


def plot_divergence(seconds: np.ndarray, curves: Mapping[str, np.ndarray], path: str | os.PathLike,
                    ylabel: str = "mean keypoint error (mm)") -> pathlib.Path:
    """Curves over time (e.g. the keypoint error of two simulators and the distance between them)."""
    figure, axis = plt.subplots(figsize=(7, 3.5))
    for label, values in curves.items():
        axis.plot(seconds[:len(values)], values, label=label)
    axis.set_xlabel("time (s)")
    axis.set_ylabel(ylabel)
    axis.legend()
    axis.grid(alpha=0.3)
    return _save(figure, path)
