"""Quality report of a retargeted clip.

Position errors are measured against the *scaled* human keypoints (`scale_fit.build_targets`: the human's segment
directions on the robot's segment lengths), since a 1.3 m G1 cannot reach a 1.7 m human's joints; limb-direction and
heading errors compare with the *raw* human motion.

Balance is judged quasi-statically (`balance`): the robot's centre of mass over the support polygon of its foot
corners on the floor; the longest stretch outside it tells which clips need dynamic balance. It is judged dynamically
by the zero-moment point over the same polygon: the longest stretch outside it tells which clips the robot cannot
follow exactly, whatever the controller.
"""

from __future__ import annotations

import json

import numpy as np
from scipy.spatial.transform import Rotation

from genmimic_jax.human.motion import HumanMotion
from genmimic_jax.human.skeleton import JOINT_INDEX as H
from genmimic_jax.retarget import balance, kinematics, optimize
from genmimic_jax.robot.g1 import constants

K = constants.KEYPOINT_INDEX
REFERENCE = "errors in mm against the scaled human keypoints (robot segment lengths, human segment directions)"

# Limb directions compared with the human's: (robot keypoint from, to), (human joint from, to).
LIMBS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    **{f"{side}_{limb}": ((f"{side}_{a}", f"{side}_{b}"), (f"{side}_{ha}", f"{side}_{hb}"))
       for side in ("left", "right")
       for limb, a, b, ha, hb in (("upper_arm", "shoulder", "elbow", "shoulder", "elbow"),
                                  ("forearm", "elbow", "wrist", "elbow", "wrist"),
                                  ("thigh", "hip", "knee", "hip", "knee"),
                                  ("shin", "knee", "ankle", "knee", "ankle"))},
    "trunk": (("pelvis", "torso"), ("pelvis", "spine3")),
}
CALLED_OUT: dict[str, tuple[str, ...]] = {
    "pelvis": ("pelvis",),
    "feet": ("left_ankle", "right_ankle", "left_toe", "right_toe"),
    "hands": ("left_wrist", "right_wrist", "left_hand", "right_hand"),
}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _heading(forward: np.ndarray) -> np.ndarray:
    return np.arctan2(forward[..., 1], forward[..., 0])


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else 0.0


def quality_report(
    human: HumanMotion,
    targets: np.ndarray,
    target_valid: np.ndarray,
    human_pelvis_rotation: np.ndarray,
    planted: np.ndarray,
    qpos: np.ndarray,
    keypoints: np.ndarray,
    soles: np.ndarray,
    corners: np.ndarray,
    com: np.ndarray,
    zmp: np.ndarray,
) -> dict:
    """The quality figures of one retargeted clip.

    Args:
      human: the source motion.
      targets: [T, K, 3] scaled human keypoints; target_valid: [K] which exist.
      human_pelvis_rotation: [T, 3, 3] the human pelvis frame (columns forward, left, up).
      planted: [T, 2, 2] planted human heels/toes (left, right foot).
      qpos: [T, 36] the robot trajectory; keypoints: [T, K, 3] its keypoints; soles: [T, 2, 3] its sole sites;
        corners: [T, 2, 4, 3] its foot contact points (bottoms of the foot contact spheres); com: [T, 3] its centre of
        mass; zmp: [T, 3] its zero-moment point (`balance.zero_moment_point`).
    """
    fps = human.fps
    error = np.linalg.norm(keypoints - targets, axis=-1) * 1000.0  # [T, K] mm
    per_keypoint = {name: float(error[:, K[name]].mean()) for name in constants.KEYPOINT_NAMES if target_valid[K[name]]}
    groups = {}
    for group in sorted(set(constants.KEYPOINT_GROUPS.values())):
        names = [n for n, g in constants.KEYPOINT_GROUPS.items() if g == group and n in per_keypoint]
        groups[group] = _mean(np.array([per_keypoint[n] for n in names]))
    for label, names in CALLED_OUT.items():
        groups[label] = _mean(np.array([per_keypoint[n] for n in names if n in per_keypoint]))

    joints = qpos[:, 7:]
    lo, hi = constants.JOINT_LIMITS[:, 0], constants.JOINT_LIMITS[:, 1]
    violations = int(np.sum((joints < lo - 1e-6) | (joints > hi + 1e-6)))
    jitter = _mean(np.abs(np.diff(joints, n=2, axis=0))) * fps**2 if len(joints) > 2 else 0.0

    sole_z = soles[..., 2] * 1000.0  # [T, 2] mm
    foot_planted, flat = planted.any(-1), planted.all(-1)
    still = foot_planted[1:] & foot_planted[:-1]
    sole_speed = np.linalg.norm(np.diff(soles[..., :2], axis=0), axis=-1) * fps * 100.0  # [T-1, 2] cm/s
    flat_z = sole_z[flat]  # soles of flat planted feet
    contact_z = corners[..., 2].min(-1)[foot_planted] * 1000.0  # lowest point of planted feet
    lowest = min(np.min(sole_z), np.min(corners[..., 2]) * 1000.0)

    human_pos = human.positions
    limb_angles = {}
    for limb, ((a, b), (ha, hb)) in LIMBS.items():
        robot_dir = _unit(keypoints[:, K[b]] - keypoints[:, K[a]])
        human_dir = _unit(human_pos[:, H[hb]] - human_pos[:, H[ha]])
        cosine = np.clip(np.sum(robot_dir * human_dir, -1), -1.0, 1.0)
        limb_angles[limb] = float(np.degrees(np.arccos(cosine)).mean())
    root_rot = Rotation.from_quat(qpos[:, 3:7], scalar_first=True).as_matrix()
    heading_error = np.angle(np.exp(1j * (_heading(root_rot[:, :, 0]) - _heading(human_pelvis_rotation[:, :, 0]))))

    return {
        "frames": int(len(qpos)),
        "fps": float(fps),
        "reference": REFERENCE,
        "keypoint_error_mm": per_keypoint,
        "group_error_mm": groups,
        "joint_limit_violations": violations,
        "jitter_rad_s2": float(jitter),
        "planted_fraction": float(foot_planted.mean()),
        "flat_fraction": float(flat.mean()),
        "foot_skating_cm_s": _mean(sole_speed[still]),
        "flat_planted_sole_height_mm": _abs_stats(flat_z),
        "planted_foot_lowest_point_mm": _abs_stats(contact_z),
        "sole_penetration_mm": float(max(-np.min(sole_z), 0.0)),
        "foot_penetration_mm": float(max(-lowest, 0.0)),
        "limb_direction_deg": {**limb_angles, "mean": _mean(np.array(list(limb_angles.values())))},
        "heading_error_deg": float(np.degrees(np.abs(heading_error)).mean()),
        **_balance_figures(com, zmp, corners, fps),
    }


def trajectory_balance(qpos: np.ndarray, fps: float) -> dict[str, dict[str, float]]:
    """The `balance` and `dynamic_balance` figures of `quality_report` for any G1 trajectory qpos [T, 36] at `fps`
    (e.g. a reference as a tracker sees it). Padded to `optimize.bucket_length`, so clips of many lengths compile a
    few times."""
    qpos = np.asarray(qpos, np.float32)
    length = optimize.bucket_length(len(qpos))
    padded = np.concatenate([qpos, np.repeat(qpos[-1:], length - len(qpos), 0)])
    points, com, body_com, rotation = (np.asarray(a)[:len(qpos)] for a in optimize.bodies_of_trajectory(padded))
    tree = kinematics.g1_tree()
    corners = points[:, optimize.tracked_points().corners]
    zmp = balance.zero_moment_point(com, body_com, rotation, tree.body_mass, tree.body_inertia, fps)
    return _balance_figures(com, zmp, corners, fps)


def _balance_figures(com: np.ndarray, zmp: np.ndarray, corners: np.ndarray, fps: float) -> dict[str, dict[str, float]]:
    """The centre of mass ('balance') and the zero-moment point ('dynamic_balance') against the feet (`_balance`)."""
    return {"balance": _balance(balance.com_outside_support(com, corners), fps, "com"),
            "dynamic_balance": _balance(balance.com_outside_support(zmp, corners), fps, "zmp")}


def _balance(outside: np.ndarray, fps: float, point: str) -> dict[str, float]:
    """Share of the supported frames off balance (the `point` more than UNBALANCED outside the support polygon), the
    longest off-balance stretch (s) and the largest distance (mm)."""
    supported = np.isfinite(outside)
    off = supported & (outside > balance.UNBALANCED)
    return {"supported_fraction": float(supported.mean()),
            "off_balance_fraction": float(off.sum() / max(supported.sum(), 1)),
            "longest_off_balance_s": balance.longest_stretch_s(off, fps),
            f"max_{point}_outside_mm": float(np.max(outside[supported], initial=0.0) * 1000.0)}


def _abs_stats(heights: np.ndarray) -> dict[str, float]:
    """Mean, 95th percentile and max of |height| (mm); 0 when empty."""
    if not heights.size:
        return {"mean_abs": 0.0, "p95_abs": 0.0, "max_abs": 0.0}
    magnitude = np.abs(heights)
    return {"mean_abs": float(magnitude.mean()), "p95_abs": float(np.quantile(magnitude, 0.95)),
            "max_abs": float(magnitude.max())}


SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("pelvis mm", "group_error_mm.pelvis"),
    ("feet mm", "group_error_mm.feet"),
    ("hands mm", "group_error_mm.hands"),
    ("lower mm", "group_error_mm.lower"),
    ("upper mm", "group_error_mm.upper"),
    ("eff mm", "group_error_mm.end_effector"),
    ("limb deg", "limb_direction_deg.mean"),
    ("head deg", "heading_error_deg"),
    ("skate cm/s", "foot_skating_cm_s"),
    ("flat sole mm", "flat_planted_sole_height_mm.mean_abs"),
    ("flat sole max", "flat_planted_sole_height_mm.max_abs"),
    ("contact max mm", "planted_foot_lowest_point_mm.max_abs"),
    ("sole pen mm", "sole_penetration_mm"),
    ("foot pen mm", "foot_penetration_mm"),
    ("off bal s", "balance.longest_off_balance_s"),
    ("zmp off s", "dynamic_balance.longest_off_balance_s"),
    ("jitter", "jitter_rad_s2"),
    ("lim viol", "joint_limit_violations"),
)


def summary_value(report: dict, key: str) -> float:
    value = report
    for part in key.split("."):
        value = value[part]
    return value


def format_table(reports: dict[str, dict], extra: dict[str, dict[str, float]] | None = None) -> str:
    """A plain-text table: one row per clip, the summary columns (and any `extra` columns per clip)."""
    extra = extra or {}
    extra_names = sorted({k for v in extra.values() for k in v})
    header = ["clip", *extra_names, *(c for c, _ in SUMMARY_COLUMNS)]
    rows = []
    for clip, report in reports.items():
        values = [extra.get(clip, {}).get(n, float("nan")) for n in extra_names]
        values += [summary_value(report, key) for _, key in SUMMARY_COLUMNS]
        rows.append([clip] + [f"{v:.1f}" if isinstance(v, float) else str(v) for v in values])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


class ReportSet:
    """The reports of a dataset run: each clip's report kept as JSON text (small, whatever the clip's length) and its
    summary values, for the aggregate and the worst clips."""

    def __init__(self):
        self._texts: dict[str, str] = {}
        self._values: dict[str, list[float]] = {}
        self._frames: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, name: str, report: dict) -> None:
        self._texts[name] = json.dumps(report)
        self._values[name] = [float(summary_value(report, key)) for _, key in SUMMARY_COLUMNS]
        self._frames[name] = int(report["frames"])

    def report(self, name: str) -> dict:
        return json.loads(self._texts[name])

    def summary(self, worst: int = 5) -> dict:
        """Clips, frames, the frame-weighted mean and the max of every summary column, and the `worst` clips of each
        (the highest values: every column is an error)."""
        names = list(self._values)
        values = np.array([self._values[n] for n in names]).reshape(len(names), len(SUMMARY_COLUMNS))
        frames = np.array([self._frames[n] for n in names], float)
        columns = {}
        for index, (label, key) in enumerate(SUMMARY_COLUMNS):
            order = np.argsort(-values[:, index], kind="stable")[:worst]
            columns[key] = {
                "label": label,
                "mean": float(np.average(values[:, index], weights=frames)) if names else 0.0,
                "max": float(values[:, index].max()) if names else 0.0,
                "worst": {names[i]: float(values[i, index]) for i in order},
            }
        return {"clips": len(names), "frames": int(frames.sum()), "reference": REFERENCE, "columns": columns}

    def to_json(self, summary: dict) -> str:
        """{"summary": summary, "clips": {name: report}} as JSON text, clips in name order."""
        clips = ",\n".join(f"    {json.dumps(n)}: {self._texts[n]}" for n in sorted(self._texts))
        return f'{{\n  "summary": {json.dumps(summary, indent=2)},\n  "clips": {{\n{clips}\n  }}\n}}\n'

    def table(self, max_clips: int | None = None) -> str:
        """The summary columns: mean and max rows, the worst clip of each column, then the clips (name order; the
        first `max_clips` when given)."""
        summary = self.summary(worst=1)["columns"]
        worst = sorted({name for c in summary.values() if c["max"] > 0 for name in c["worst"]})
        names = sorted(self._values)[:max_clips]
        lines = ["frame-weighted mean, max over clips:",
                 _table({"mean": [c["mean"] for c in summary.values()], "max": [c["max"] for c in summary.values()]}),
                 "worst clips (the highest value of some column):",
                 _table({n: self._values[n] for n in worst})]
        if names:
            shown = "" if len(names) == len(self) else f" (first {len(names)} of {len(self)})"
            lines += [f"clips{shown}:", _table({n: self._values[n] for n in names})]
        return "\n".join(lines)


def _table(rows: dict[str, list[float]]) -> str:
    header = ["clip", *(c for c, _ in SUMMARY_COLUMNS)]
    cells = [[name] + [str(int(v)) if c == "lim viol" else f"{v:.1f}" for v, (c, _) in zip(values, SUMMARY_COLUMNS)]
             for name, values in rows.items()]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [header, *cells])
