"""Human motions in, retargeted G1 motions and quality reports out."""

from __future__ import annotations

import dataclasses
import math

import jax
import ml_collections
import numpy as np

from genmimic_jax import limits
from genmimic_jax.errors import InputError
from genmimic_jax.human.motion import HumanMotion, validate
from genmimic_jax.retarget import balance, contact, kinematics, optimize, report, scale_fit
from genmimic_jax.retarget.io import RobotMotion
from genmimic_jax.robot.g1 import constants


def weights_from_config(config: ml_collections.ConfigDict) -> optimize.Weights:
    w = config.weights
    for name, value in w.items():
        limits.check_range(f"config.weights.{name}", "weight", value, 0.0, math.inf, error_type=InputError)
    keypoint = np.full(len(constants.KEYPOINT_NAMES), w.keypoint, np.float32)
    for names, value in ((report.CALLED_OUT["pelvis"], w.pelvis), (report.CALLED_OUT["feet"], w.feet),
                         (report.CALLED_OUT["hands"], w.hands)):
        keypoint[[constants.KEYPOINT_INDEX[n] for n in names]] = value
    rest = np.array([w.rest_wrist if "wrist" in j else w.rest for j in constants.JOINT_NAMES], np.float32)
    f = np.float32  # numpy, so building the weights compiles nothing
    return optimize.Weights(
        keypoint=keypoint, pelvis_orientation=f(w.pelvis_orientation), heading=f(w.heading), rest=rest,
        limit=f(w.limit), limit_margin=f(w.limit_margin), velocity=np.full(35, w.velocity, f),
        acceleration=np.full(35, w.acceleration, f), plant_height=f(w.plant_height), plant_slide=f(w.plant_slide),
        ground=f(w.ground), swing_level=f(w.swing_level), damping=f(w.damping), arm_follow=f(w.arm_follow))


@dataclasses.dataclass(frozen=True)
class Retargeted:
    """A retargeted clip, its quality report and the scaled human keypoints it tracked ([T, K, 3], NaN where the
    human lacks the joint)."""

    motion: RobotMotion
    report: dict
    targets: np.ndarray


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A human motion and what the solver needs of it (numpy; built without JAX, so any thread may prepare)."""

    human: HumanMotion
    clip: optimize.ClipInput

    @property
    def num_frames(self) -> int:
        return self.human.num_frames


@dataclasses.dataclass(frozen=True)
class Solved:
    """The solver's output for a packed batch (numpy): qpos [T, 36], points [T, P, 3], centre of mass [T, 3], the
    bodies' centres of mass [T, B, 3] and orientations [T, B, 3, 3], and each clip's frames."""

    qpos: np.ndarray
    points: np.ndarray
    com: np.ndarray
    body_com: np.ndarray
    body_rotation: np.ndarray
    slices: list[slice]

    def zero_moment_point(self, frames: slice, fps: float) -> np.ndarray:
        """[len(frames), 3] the zero-moment point (`balance.zero_moment_point`) of one clip's frames."""
        tree = kinematics.g1_tree()
        return balance.zero_moment_point(self.com[frames], self.body_com[frames], self.body_rotation[frames],
                                         tree.body_mass, tree.body_inertia, fps)


class Retargeter:
    """Retargets batches of human motions with one config.

    Subject fits are cached; the solve is compiled once per padded batch length (`compile`), so a run whose
    batches all have one length compiles the solver once, whatever the number and lengths of its clips.
    """

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        self.weights = weights_from_config(config)
        limits.check_range("config.swing_clearance", "value", config.swing_clearance, 0.0, 0.5, error_type=InputError)
        for block in ("balance", "dynamic_balance"):
            for name, value in config[block].items():
                limits.check_range(f"config.{block}.{name}", "value", value, 0.0, 1e3, error_type=InputError)
        self.scales = scale_fit.ScaleCache(config.scale_cache_dir or None)

    def prepare(self, human: HumanMotion) -> Prepared:
        validate(human)
        planted = contact.detect_planted(human, **self.config.contact)
        targets = scale_fit.build_targets(human, self.scales.get(human), planted)
        sole_floor = contact.swing_floor(planted, self.config.swing_clearance)
        clip = optimize.ClipInput(targets.positions, targets.valid, targets.pelvis_rotation, planted, sole_floor,
                                  human.fps)
        return Prepared(human, clip)

    def compile(self, length: int) -> jax.stages.Compiled:
        """The solver for batches padded to `length` frames (compiled once per process and length)."""
        return optimize.compiled_solve(length, self.config.cg_iterations, self.config.line_search)

    def run_solver(self, length: int, problem: optimize.Problem, start: optimize.Solution,
                   track_iterations: int | None = None) -> tuple[np.ndarray, ...]:
        """The compiled solver's outputs (numpy) from `start`; `track_iterations` defaults to the config's."""
        config = self.config
        track = config.track_iterations if track_iterations is None else track_iterations
        outputs = self.compile(length)(problem, start, self.weights, track_iterations=np.int32(track),
                                       contact_iterations=np.int32(config.contact_iterations),
                                       max_step=np.float32(config.max_step))
        return tuple(map(np.asarray, outputs))

    def solve(self, prepared: list[Prepared], length: int) -> Solved:
        """Solves clips packed into one batch padded to `length` frames; solves it again with the upper body's targets
        shifted over the feet where a clip holds a pose off balance (`config.balance`, `balance.hold_shift`), then
        `config.dynamic_balance.iterations` times more, each time shifted further to bring its zero-moment point over
        the feet (`balance.zmp_shift`), starting from the previous solution with fewer tracking iterations
        (`config.dynamic_balance.track_iterations`)."""
        problem, init, slices = optimize.pack([p.clip for p in prepared], length)

        def solve(shift: np.ndarray, start: optimize.Solution = init, track_iterations: int | None = None) -> Solved:
            shifted = problem._replace(targets=problem.targets + shift)
            return Solved(*self.run_solver(length, shifted, start, track_iterations), slices)

        shift = np.zeros_like(problem.targets)
        solved = solve(shift)
        corners = optimize.tracked_points().corners
        for item, frames in zip(prepared, slices):
            shift[frames] = balance.hold_shift(solved.com[frames], solved.points[frames][:, corners], item.human.fps,
                                               **self.config.balance)
        if shift.any():
            solved = solve(shift)
        dynamic = self.config.dynamic_balance
        for _ in range(dynamic.iterations):
            for item, frames in zip(prepared, slices):
                zmp = solved.zero_moment_point(frames, item.human.fps)
                shift[frames] += balance.zmp_shift(solved.com[frames], zmp, solved.points[frames][:, corners],
                                                   item.human.fps, dynamic.margin, dynamic.max_step, dynamic.gain)
            solved = solve(shift, optimize.solution_of_qpos(solved.qpos), dynamic.track_iterations)
        return solved

    @staticmethod
    def finish(prepared: list[Prepared], solved: Solved) -> list[Retargeted]:
        """The retargeted clips and their quality reports from a solved batch (numpy only)."""
        points_info = optimize.tracked_points()
        results = []
        for item, frames in zip(prepared, solved.slices):
            qpos, points_clip = solved.qpos[frames], solved.points[frames]
            if not np.isfinite(qpos).all():
                raise InputError(f"{item.human.source}: the retargeting solve diverged (non-finite joint angles); "
                                 "the weights in the config (configs/retarget.py) are likely out of range")
            keypoints = points_clip[:, :len(constants.KEYPOINT_NAMES)]
            zmp = solved.zero_moment_point(frames, item.human.fps)
            quality = report.quality_report(
                item.human, item.clip.targets, item.clip.target_valid, item.clip.pelvis_rotation, item.clip.planted,
                qpos, keypoints, points_clip[:, points_info.sole], points_clip[:, points_info.corners],
                solved.com[frames], zmp)
            motion = RobotMotion(qpos=qpos, fps=item.human.fps, keypoints=keypoints, source=item.human.source)
            targets = np.where(item.clip.target_valid[:, None], item.clip.targets, np.nan)
            results.append(Retargeted(motion, quality, targets))
        return results

    def __call__(self, humans: list[HumanMotion]) -> list[Retargeted]:
        """Retargets motions packed into one solve, padded to their bucket length (`dataset.retarget_stream` streams
        many clips through batches of one length)."""
        prepared = [self.prepare(h) for h in humans]
        length = optimize.bucket_length(sum(p.num_frames for p in prepared), self.config.min_bucket)
        return self.finish(prepared, self.solve(prepared, length))
