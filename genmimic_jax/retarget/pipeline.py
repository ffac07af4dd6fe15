"""Human motions in, retargeted G1 motions and quality reports out."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genmimic_jax.human.motion import HumanMotion, validate
from genmimic_jax.retarget import contact, optimize, report, scale_fit
from genmimic_jax.retarget.io import RobotMotion
from genmimic_jax.robot.g1 import constants


def weights_from_config(config: ml_collections.ConfigDict) -> optimize.Weights:
    w = config.weights
    keypoint = np.full(len(constants.KEYPOINT_NAMES), w.keypoint, np.float32)
    for names, value in ((report.CALLED_OUT["pelvis"], w.pelvis), (report.CALLED_OUT["feet"], w.feet),
                         (report.CALLED_OUT["hands"], w.hands)):
        keypoint[[constants.KEYPOINT_INDEX[n] for n in names]] = value
    rest = np.array([w.rest_wrist if "wrist" in j else w.rest for j in constants.JOINT_NAMES], np.float32)
    f = jnp.float32
    return optimize.Weights(
        keypoint=jnp.asarray(keypoint), pelvis_orientation=f(w.pelvis_orientation), rest=jnp.asarray(rest),
        limit=f(w.limit), limit_margin=f(w.limit_margin), velocity=jnp.full(35, w.velocity, jnp.float32),
        acceleration=jnp.full(35, w.acceleration, jnp.float32), plant_height=f(w.plant_height),
        plant_slide=f(w.plant_slide), ground=f(w.ground), damping=f(w.damping))


@dataclasses.dataclass(frozen=True)
class Retargeted:
    """A retargeted clip, its quality report and the scaled human keypoints it tracked ([T, K, 3], NaN where the
    human lacks the joint)."""

    motion: RobotMotion
    report: dict
    targets: np.ndarray


@dataclasses.dataclass(frozen=True)
class _Prepared:
    human: HumanMotion
    clip: optimize.ClipInput


class Retargeter:
    """Retargets batches of human motions with one config (subject fits cached, solves compiled per bucket)."""

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        self.weights = weights_from_config(config)
        self.scales = scale_fit.ScaleCache(config.scale_cache_dir or None)

    def prepare(self, human: HumanMotion) -> _Prepared:
        validate(human)
        planted = contact.detect_planted(human, **self.config.contact)
        targets = scale_fit.build_targets(human, self.scales.get(human), planted)
        clip = optimize.ClipInput(targets.positions, targets.valid, targets.pelvis_rotation, planted, human.fps)
        return _Prepared(human, clip)

    def batches(self, humans: list[HumanMotion]) -> list[list[int]]:
        """Groups motion indices into consecutive batches of at most `max_batch_frames` frames (one clip may exceed)."""
        batches, current, frames = [], [], 0
        for i, human in enumerate(humans):
            if current and frames + human.num_frames > self.config.max_batch_frames:
                batches.append(current)
                current, frames = [], 0
            current.append(i)
            frames += human.num_frames
        return batches + ([current] if current else [])

    def __call__(self, humans: list[HumanMotion]) -> list[Retargeted]:
        """Retargets motions packed into one solve (use `batches` to split long lists)."""
        prepared = [self.prepare(h) for h in humans]
        problem, init, slices = optimize.pack([p.clip for p in prepared], self.config.min_bucket)
        solution, points = optimize.solve(
            problem, init, self.weights, track_iterations=self.config.track_iterations,
            contact_iterations=self.config.contact_iterations, cg_iterations=self.config.cg_iterations,
            max_step=self.config.max_step)
        qpos_all = optimize.to_qpos(jax.device_get(solution))
        points_all = np.asarray(jax.device_get(points))
        points_info = optimize.tracked_points()
        results = []
        for item, frames in zip(prepared, slices):
            qpos, points_clip = qpos_all[frames], points_all[frames]
            keypoints = points_clip[:, :len(constants.KEYPOINT_NAMES)]
            quality = report.quality_report(
                item.human, item.clip.targets, item.clip.target_valid, item.clip.pelvis_rotation, item.clip.planted,
                qpos, keypoints, points_clip[:, points_info.sole], points_clip[:, points_info.corners])
            motion = RobotMotion(qpos=qpos, fps=item.human.fps, keypoints=keypoints, source=item.human.source)
            targets = np.where(item.clip.target_valid[:, None], item.clip.targets, np.nan)
            results.append(Retargeted(motion, quality, targets))
        return results
