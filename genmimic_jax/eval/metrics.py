"""Tracking metrics of a simulated clip against its reference: pure numpy functions.

Conventions: keypoint arrays are [T, K, 3] world positions in metres (`constants.KEYPOINT_NAMES` order unless
`keypoint_names` says otherwise); qpos arrays are [T, 36]. Errors come out in millimetres (positions), millimetres
per second (velocities) and radians (joints). A clip that failed (fell or lost track) is scored on the frames up
to the failure.
"""

from collections.abc import Mapping, Sequence

import numpy as np

from genmimic_jax.robot.g1 import constants

GROUPS = ("end_effector", "upper", "lower")
# Per-clip metric keys averaged over clips in `summarize` (success is reported as a rate).
AVERAGED_KEYS = ("mpjpe_mm", "peak_error_mm", "root_relative_mpjpe_mm", "end_effector_mm", "upper_mm", "lower_mm",
                 "velocity_error_mm_s", "joint_error_rad")
# Figures of the reference clip itself, shown beside the policy's (`evaluate.reference_zmp_off_s`,
# `feasibility.torque_over_limit_s`).
REFERENCE_KEYS = ("reference_zmp_off_s", "reference_torque_over_s")


def keypoint_distances(sim: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Euclidean distance [..., T, K] between simulated and goal keypoints [..., T, K, 3]."""
    sim, goal = np.asarray(sim, np.float64), np.asarray(goal, np.float64)
    if sim.shape != goal.shape or sim.shape[-1] != 3:
        raise ValueError(f"keypoint arrays must have equal shapes [..., K, 3], got {sim.shape} and {goal.shape}")
    return np.linalg.norm(sim - goal, axis=-1)


def mpjpe_mm(sim: np.ndarray, goal: np.ndarray) -> float:
    """Global mean per-keypoint position error in millimetres."""
    return float(1000.0 * np.mean(keypoint_distances(sim, goal)))


def peak_error_mm(sim: np.ndarray, goal: np.ndarray) -> float:
    """The worst frame's mean keypoint error in millimetres: how near a clip came to the environment's lost-track
    termination (`terminations.keypoint_error`), which a low mean over the clip can hide."""
    return float(1000.0 * np.max(np.mean(keypoint_distances(sim, goal), axis=-1)))


def root_relative_mpjpe_mm(sim: np.ndarray, goal: np.ndarray, root_index: int = constants.KEYPOINT_INDEX["pelvis"]
                           ) -> float:
    """Mean position error in millimetres after moving each frame's root keypoint of both to the origin."""
    sim, goal = np.asarray(sim, np.float64), np.asarray(goal, np.float64)
    return mpjpe_mm(sim - sim[..., root_index:root_index + 1, :], goal - goal[..., root_index:root_index + 1, :])


def group_errors_mm(sim: np.ndarray, goal: np.ndarray, keypoint_names: Sequence[str] = constants.KEYPOINT_NAMES,
                    groups: Mapping[str, str] = constants.KEYPOINT_GROUPS) -> dict[str, float]:
    """Global mean position error in millimetres of each keypoint group ('end_effector', 'upper', 'lower')."""
    distances = keypoint_distances(sim, goal)
    if distances.shape[-1] != len(keypoint_names):
        raise ValueError(f"{distances.shape[-1]} keypoints but {len(keypoint_names)} keypoint names")
    member = np.array([groups[name] for name in keypoint_names])
    return {group: float(1000.0 * np.mean(distances[..., member == group])) for group in GROUPS}


def velocity_error_mm_s(sim: np.ndarray, goal: np.ndarray, fps: float) -> float:
    """Mean norm of the keypoint velocity difference (finite differences at `fps`), mm/s; NaN for one frame."""
    sim, goal = np.asarray(sim, np.float64), np.asarray(goal, np.float64)
    if sim.shape[-3] < 2:
        return float("nan")
    velocity_gap = (np.diff(sim, axis=-3) - np.diff(goal, axis=-3)) * fps
    return float(1000.0 * np.mean(np.linalg.norm(velocity_gap, axis=-1)))


def joint_error_rad(sim_qpos: np.ndarray, ref_qpos: np.ndarray) -> float:
    """Mean absolute joint-angle error (radians) over the 29 joints of qpos [T, 36]."""
    sim_qpos, ref_qpos = np.asarray(sim_qpos, np.float64), np.asarray(ref_qpos, np.float64)
    if sim_qpos.shape != ref_qpos.shape or sim_qpos.shape[-1] != constants.QPOS_SIZE:
        raise ValueError(f"qpos arrays must have equal shapes [..., {constants.QPOS_SIZE}], "
                         f"got {sim_qpos.shape} and {ref_qpos.shape}")
    return float(np.mean(np.abs(sim_qpos[..., 7:] - ref_qpos[..., 7:])))


def clip_metrics(sim_keypoints: np.ndarray, goal_keypoints: np.ndarray, sim_qpos: np.ndarray, ref_qpos: np.ndarray,
                 fps: float, failed: bool, success_threshold: float,
                 keypoint_names: Sequence[str] = constants.KEYPOINT_NAMES) -> dict[str, float]:
    """All metrics of one clip over the frames it was simulated (up to the end of the clip or the failure).

    Args:
      sim_keypoints, goal_keypoints: [T, K, 3] simulated and reference keypoints, metres.
      sim_qpos, ref_qpos: [T, 36] simulated and reference qpos.
      fps: frame rate of the arrays.
      failed: whether the episode ended early by a failure (a fall, losing track of the reference, NaN physics).
      success_threshold: largest mean keypoint error (metres) a successful clip may have.

    Returns:
      Floats: 'success' (1.0 or 0.0), 'failed', 'frames', the errors named in `AVERAGED_KEYS`.
    """
    mean_error_m = float(np.mean(keypoint_distances(sim_keypoints, goal_keypoints)))
    out = {
        "success": float((not failed) and mean_error_m < success_threshold),
        "failed": float(failed),
        "frames": float(np.shape(sim_keypoints)[0]),
        "mpjpe_mm": 1000.0 * mean_error_m,
        "peak_error_mm": peak_error_mm(sim_keypoints, goal_keypoints),
        "root_relative_mpjpe_mm": root_relative_mpjpe_mm(sim_keypoints, goal_keypoints),
        "velocity_error_mm_s": velocity_error_mm_s(sim_keypoints, goal_keypoints, fps),
        "joint_error_rad": joint_error_rad(sim_qpos, ref_qpos),
    }
    out.update({f"{group}_mm": value
                for group, value in group_errors_mm(sim_keypoints, goal_keypoints, keypoint_names).items()})
    return out


def summarize(per_clip: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Overall figures of a motion set: success and failure rates (%) and the mean over clips of each error."""
    if not per_clip:
        raise ValueError("no clips to summarize")
    out = {
        "clips": float(len(per_clip)),
        "success_rate": 100.0 * float(np.mean([m["success"] for m in per_clip])),
        "failure_rate": 100.0 * float(np.mean([m["failed"] for m in per_clip])),
    }
    for key in AVERAGED_KEYS:
        values = np.array([m[key] for m in per_clip], np.float64)
        out[key] = float(np.nanmean(values)) if np.any(np.isfinite(values)) else float("nan")
    return out


def format_table(per_clip: Mapping[str, Mapping[str, float]], overall: Mapping[str, float]) -> str:
    """A plain-text table: one row per clip, then the overall row."""
    extra = tuple(key for key in REFERENCE_KEYS if all(key in metrics for metrics in per_clip.values()))
    columns = ("success", "frames") + AVERAGED_KEYS + extra
    headers = ("clip",) + columns
    rows = [[name] + [f"{metrics[c]:.4g}" for c in columns] for name, metrics in per_clip.items()]
    overall_row = dict(overall, success=overall["success_rate"] / 100.0)
    rows.append(["OVERALL"] + [f"{overall_row[c]:.4g}" if c in overall_row else "-" for c in columns])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    lines.append(f"success rate {overall['success_rate']:.1f}% over {int(overall['clips'])} clips, "
                 f"failure rate {overall['failure_rate']:.1f}%")
    return "\n".join(lines)
