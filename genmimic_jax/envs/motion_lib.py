"""Reference motions on the device: many clips packed one after another, and start sampling.

Clips (anything with `qpos` [T, 36] and `fps`, such as `genmimic_jax.retarget.io.RobotMotion`) are resampled to
the control rate, their velocities taken by finite differences (the root's angular velocity from the quaternions, in
MuJoCo's free-joint convention: linear velocity in the world frame, angular velocity in the body frame), and their
keypoint and foot-site positions computed by forward kinematics of the project's G1, so that a simulated state equal
to the reference has exactly the reference's keypoints. The goal keypoints the policy observes are those same
keypoints, or, with `goal_from_clip_keypoints`, the clips' own `keypoints` tracks (e.g. lifted from a video, or
corrupted by the evaluation's noise suite) while rewards still score against the kinematic reference.

Start sampling is uniform (clip by weight, frame uniform) or adaptive: every clip is cut into bins of
`bin_seconds`, failures are counted per bin (the counts live in the environment state) and bins that fail more are
started from more often, as BeyondMimic does, pooled over the whole set, within each clip, or a mix of the two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.struct
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from scipy.spatial import transform

from genmimic_jax.errors import InputError
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model


class MotionLibError(InputError):
    """A reference clip is unusable (wrong shape, non-finite values, bad frame rate, too short)."""


@dataclasses.dataclass(frozen=True)
class ReferenceClip:
    """A robot reference motion with the fields of `genmimic_jax.retarget.io.RobotMotion`."""

    qpos: np.ndarray  # [T, 36]
    fps: float
    keypoints: np.ndarray  # [T, K, 3] world positions of constants.KEYPOINT_NAMES
    keypoint_names: tuple[str, ...] = constants.KEYPOINT_NAMES
    source: str = ""


@flax.struct.dataclass
class ReferenceFrame:
    """The reference at one time (any leading batch dims)."""

    qpos: jax.Array  # [..., 36]
    qvel: jax.Array  # [..., 35]
    keypoints: jax.Array  # [..., K, 3] world
    keypoint_vel: jax.Array  # [..., K, 3] world
    com: jax.Array  # [..., 3] world centre of mass of the nominal robot
    feet: jax.Array  # [..., 2, 3] world positions of constants.FOOT_SITES
    feet_vel: jax.Array  # [..., 2, 3]


@flax.struct.dataclass
class MotionLib:
    """Clips concatenated along time, at the control rate: memory follows the total number of frames, not the
    number of clips times the longest one (a dataset of thousands of clips of a few seconds to minutes).

    Attributes:
      frames: the reference frames of every clip one after another, every leaf [F, ...].
      goal_keypoints: [F, K, 3] world keypoints the policy is asked to reach.
      starts: [C] index of each clip's first frame in `frames`.
      lengths: [C] number of frames per clip.
      weights: [C] clip sampling probabilities (sum to 1).
      bin_starts: [C] index of each clip's first adaptive-sampling bin in the flat failure table.
      bin_clips: [B] the clip of each bin.
      fps: frame rate of the packed clips (the control rate).
      bin_frames: frames per adaptive-sampling bin.
      max_length: the longest clip's frame count.
      names: clip names (their sources).
    """

    frames: ReferenceFrame
    goal_keypoints: jax.Array
    starts: jax.Array
    lengths: jax.Array
    weights: jax.Array
    bin_starts: jax.Array
    bin_clips: jax.Array
    fps: float = flax.struct.field(pytree_node=False)
    bin_frames: int = flax.struct.field(pytree_node=False)
    max_length: int = flax.struct.field(pytree_node=False)
    names: tuple[str, ...] = flax.struct.field(pytree_node=False)

    @property
    def num_clips(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def num_bins(self) -> int:
        """Size of the flat failure-count table: ceil((length - 1) / bin_frames) bins per clip, one per
        `bin_frames` start frames (a start keeps a frame to step to)."""
        return int(self.bin_clips.shape[0])

    def _index(self, clip: jax.Array, t: jax.Array) -> jax.Array:
        return self.starts[clip] + jnp.clip(t, 0, self.lengths[clip] - 1)

    def frame(self, clip: jax.Array, t: jax.Array) -> ReferenceFrame:
        """The reference of `clip` at frame `t` (clipped to the clip's last frame); works batched."""
        index = self._index(clip, t)
        return jax.tree.map(lambda x: x[index], self.frames)

    def goals(self, clip: jax.Array, t: jax.Array) -> jax.Array:
        """Goal keypoints [..., K, 3] of `clip` at frames `t` (clipped to the clip's last frame)."""
        return self.goal_keypoints[self._index(clip, t)]

    def clip_frames(self, clip: int) -> ReferenceFrame:
        """Every frame of one clip (numpy leaves [length, ...])."""
        frames = slice(int(self.starts[clip]), int(self.starts[clip]) + int(self.lengths[clip]))
        return jax.tree.map(lambda x: np.asarray(x[frames]), self.frames)

    def clip_goals(self, clip: int) -> np.ndarray:
        """The goal keypoints [length, K, 3] of one clip (numpy)."""
        start = int(self.starts[clip])
        return np.asarray(self.goal_keypoints[start:start + int(self.lengths[clip])])

    def bin_index(self, clip: jax.Array, t: jax.Array) -> jax.Array:
        """Failure-table index of frame `t` of `clip` (its last frame counts in its last bin)."""
        last = jnp.maximum(self.lengths[clip] - 2, 0) // self.bin_frames
        return self.bin_starts[clip] + jnp.minimum(t // self.bin_frames, last)

    def sample_uniform(self, rng: jax.Array, first_frame_share: float = 0.0) -> tuple[jax.Array, jax.Array]:
        """A clip (by weight) and a start frame uniform in [0, length - 2], or with probability `first_frame_share`
        the clip's first frame."""
        clip_rng, t_rng = jax.random.split(rng)
        clip = jax.random.categorical(clip_rng, jnp.log(self.weights))
        t_rng, first = _first_frame_draw(t_rng, first_frame_share)
        t = jax.random.randint(t_rng, (), 0, self.lengths[clip] - 1)
        return clip, jnp.where(first, 0, t)

    def start_distribution(self, fail_counts: jax.Array, uniform_ratio: float,
                           failure_share: float = 1.0) -> jax.Array:
        """The cumulative start probabilities [B] over the failure table's bins, for `sample_start`.

        P(bin) = uniform_ratio * base(bin) + (1 - uniform_ratio) * adaptive(bin), where base spreads each clip's
        weight evenly over its bins, and adaptive(bin) = share(clip) * fail(bin) / fail(clip) with
        share(clip) = (1 - failure_share) * weight(clip) + failure_share * fail(clip) / sum(fail). So
        `failure_share` 1 pools the bins of the whole set (a long clip with many failing bins draws most starts),
        0 keeps each clip its weight's share for its own failing bins, and between the two the clips that still
        fail draw more than their weight without taking every start. A clip without failures spreads its share
        evenly over its bins; without any failure adaptive = base. Computed once for a batch of starts: its cost
        follows the number of bins, a start's only its logarithm.
        """
        bins_per_clip = jax.ops.segment_sum(jnp.ones_like(fail_counts), self.bin_clips, self.num_clips)
        clip_fails = jax.ops.segment_sum(fail_counts, self.bin_clips, self.num_clips)
        total = jnp.sum(clip_fails)
        share = jnp.where(total > 0, (1.0 - failure_share) * self.weights
                          + failure_share * clip_fails / jnp.where(total > 0, total, 1.0), self.weights)
        fails = clip_fails[self.bin_clips]
        evenly = 1.0 / bins_per_clip[self.bin_clips]
        within_clip = jnp.where(fails > 0, fail_counts / jnp.where(fails > 0, fails, 1.0), evenly)
        base = self.weights[self.bin_clips] * evenly
        adaptive = share[self.bin_clips] * within_clip
        return jnp.cumsum(uniform_ratio * base + (1.0 - uniform_ratio) * adaptive)

    def sample_start(self, rng: jax.Array, distribution: jax.Array,
                     first_frame_share: float = 0.0) -> tuple[jax.Array, jax.Array]:
        """A start (clip, frame): a bin drawn from `start_distribution`, the frame uniform within the bin, or with
        probability `first_frame_share` the bin's clip's first frame."""
        bin_rng, t_rng = jax.random.split(rng)
        u = jax.random.uniform(bin_rng) * distribution[-1]
        flat = jnp.minimum(jnp.searchsorted(distribution, u, side="right"), self.num_bins - 1)
        clip = self.bin_clips[flat]
        start = (flat - self.bin_starts[clip]) * self.bin_frames
        stop = jnp.minimum(start + self.bin_frames, self.lengths[clip] - 1)
        t_rng, first = _first_frame_draw(t_rng, first_frame_share)
        return clip, jnp.where(first, 0, jax.random.randint(t_rng, (), start, stop))

    @classmethod
    def from_clips(cls, clips: Sequence, fps: float = 50.0, bin_seconds: float = 1.0,
                   weights: Sequence[float] | None = None, goal_from_clip_keypoints: bool = False,
                   duration_power: float = 0.0) -> MotionLib:
        """Packs clips at frame rate `fps`.

        Args:
          clips: objects with `qpos` [T, 36], `fps`, optionally `source` (and `keypoints` [T, K, 3] in
            constants.KEYPOINT_NAMES order when `goal_from_clip_keypoints`), e.g. `RobotMotion`s.
          fps: frame rate of the library (the control rate).
          bin_seconds: duration of an adaptive-sampling bin.
          weights: clip sampling weights (default: equal).
          goal_from_clip_keypoints: goals from the clips' keypoint tracks instead of forward kinematics.
          duration_power: each clip's weight is multiplied by its frame count at `fps` to this power (0: as given;
            1: every frame alike).
        """
        if not clips:
            raise MotionLibError("MotionLib.from_clips needs at least one clip")
        if weights is None:
            weights = np.ones(len(clips))
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(clips),) or not np.all(np.isfinite(weights)) or np.any(weights < 0) \
                or weights.sum() <= 0:
            raise MotionLibError(f"clip weights must be {len(clips)} finite non-negative numbers, not all zero")
        model = g1_model.load_model(scene=True)
        names, packed, goals = [], [], []
        for i, clip in enumerate(clips):
            name = str(getattr(clip, "path", "") or getattr(clip, "source", "") or f"clip_{i}")  # the file first
            names.append(name)
            frames = _reference_frames(model, _resample(clip, name, fps), fps)
            packed.append(frames)
            goals.append(_resample_keypoints(clip, name, fps, frames.qpos.shape[0]) if goal_from_clip_keypoints
                         else frames.keypoints)
        lengths = np.array([p.qpos.shape[0] for p in packed], dtype=np.int32)
        weights = weights * lengths.astype(np.float64) ** float(duration_power)
        bin_frames = max(1, int(round(bin_seconds * fps)))
        bins = -(-(lengths - 1) // bin_frames)  # every clip has at least 3 frames, so at least one bin
        return cls(frames=jax.tree.map(lambda *xs: jnp.asarray(np.concatenate(xs), jnp.float32), *packed),
                   goal_keypoints=jnp.asarray(np.concatenate(goals), jnp.float32),
                   starts=jnp.asarray(np.cumsum(lengths) - lengths, jnp.int32), lengths=jnp.asarray(lengths),
                   weights=jnp.asarray(weights / weights.sum(), jnp.float32),
                   bin_starts=jnp.asarray(np.cumsum(bins) - bins, jnp.int32),
                   bin_clips=jnp.asarray(np.repeat(np.arange(len(clips)), bins), jnp.int32), fps=float(fps),
                   bin_frames=bin_frames, max_length=int(lengths.max()), names=tuple(names))


def _first_frame_draw(rng: jax.Array, share: float) -> tuple[jax.Array, jax.Array]:
    """The key left for the frame draw, and whether this start moves to its clip's first frame (probability
    `share`). The key is split only when `share` > 0, so that runs without first-frame starts keep their starts."""
    if share <= 0:
        return rng, jnp.zeros((), bool)
    rng, first_rng = jax.random.split(rng)
    return rng, jax.random.uniform(first_rng) < share


def resampled_length(num_frames: int, src_fps: float, fps: float) -> int:
    """Frames of a clip of `num_frames` at `src_fps` once resampled to `fps` (the library's clip lengths)."""
    return int(np.floor((num_frames - 1) / src_fps * fps + 1e-6)) + 1


def _resample(clip, name: str, fps: float) -> np.ndarray:
    """The clip's qpos [T', 36] at `fps`: linear for positions and joints, slerp for the root quaternion."""
    qpos = np.asarray(clip.qpos, dtype=np.float64)
    src_fps = float(np.asarray(clip.fps))
    if qpos.ndim != 2 or qpos.shape[1] != constants.QPOS_SIZE:
        raise MotionLibError(f"{name}: qpos must be [T, {constants.QPOS_SIZE}], got {list(qpos.shape)}")
    if not np.isfinite(src_fps) or src_fps <= 0:
        raise MotionLibError(f"{name}: frame rate must be a positive number, got {src_fps}")
    if not np.all(np.isfinite(qpos)):
        raise MotionLibError(f"{name}: qpos holds NaN or infinite values")
    norms = np.linalg.norm(qpos[:, 3:7], axis=1)
    if np.any(np.abs(norms - 1.0) > 1e-2):
        raise MotionLibError(f"{name}: root quaternions qpos[:, 3:7] are not unit (norms {norms.min():.3f}.."
                             f"{norms.max():.3f})")
    count = resampled_length(qpos.shape[0], src_fps, fps)
    if count < 3:
        raise MotionLibError(f"{name}: {qpos.shape[0]} frames at {src_fps} fps is shorter than 3 frames at {fps} fps")
    src_t = np.arange(qpos.shape[0]) / src_fps
    t = np.arange(count) / fps
    out = np.empty((count, constants.QPOS_SIZE))
    for j in list(range(3)) + list(range(7, constants.QPOS_SIZE)):
        out[:, j] = np.interp(t, src_t, qpos[:, j])
    rotations = transform.Rotation.from_quat(qpos[:, 3:7], scalar_first=True)
    out[:, 3:7] = transform.Slerp(src_t, rotations)(np.minimum(t, src_t[-1])).as_quat(scalar_first=True)
    return out


def _resample_keypoints(clip, name: str, fps: float, count: int) -> np.ndarray:
    """The clip's own keypoint track [count, K, 3] at `fps` (linear interpolation)."""
    keypoints = np.asarray(getattr(clip, "keypoints", None), dtype=np.float64)
    names = tuple(str(n) for n in getattr(clip, "keypoint_names", constants.KEYPOINT_NAMES))
    expected = (np.asarray(clip.qpos).shape[0], len(constants.KEYPOINT_NAMES), 3)
    if keypoints.shape != expected:
        raise MotionLibError(f"{name}: keypoints must be {list(expected)}, got {list(keypoints.shape)}")
    if names != constants.KEYPOINT_NAMES:
        raise MotionLibError(f"{name}: keypoint_names {names} differ from the G1's {constants.KEYPOINT_NAMES}")
    if not np.all(np.isfinite(keypoints)):
        raise MotionLibError(f"{name}: keypoints hold NaN or infinite values")
    src_t = np.arange(keypoints.shape[0]) / float(np.asarray(clip.fps))
    t = np.arange(count) / fps
    flat = keypoints.reshape(keypoints.shape[0], -1)
    return np.stack([np.interp(t, src_t, flat[:, j]) for j in range(flat.shape[1])], axis=1).reshape(count, -1, 3)


def _reference_frames(model: mujoco.MjModel, qpos: np.ndarray, fps: float) -> ReferenceFrame:
    """Velocities by central differences and keypoint/foot positions by forward kinematics (numpy leaves)."""
    dt = 1.0 / fps
    qvel = np.empty((qpos.shape[0], constants.QVEL_SIZE))
    qvel[:, :3] = np.gradient(qpos[:, :3], dt, axis=0)
    qvel[:, 6:] = np.gradient(qpos[:, 7:], dt, axis=0)
    rot = transform.Rotation.from_quat(qpos[:, 3:7], scalar_first=True)
    # Body-frame angular velocity: rotation vector of R_a^-1 R_b over the time between a and b.
    qvel[1:-1, 3:6] = (rot[:-2].inv() * rot[2:]).as_rotvec() / (2 * dt)
    qvel[0, 3:6] = (rot[0].inv() * rot[1]).as_rotvec() / dt
    qvel[-1, 3:6] = (rot[-2].inv() * rot[-1]).as_rotvec() / dt
    sites, com = forward_kinematics(model, qpos, constants.KEYPOINT_SITES + constants.FOOT_SITES)
    site_vel = np.gradient(sites, dt, axis=0)
    k = len(constants.KEYPOINT_SITES)
    return ReferenceFrame(qpos=qpos, qvel=qvel, keypoints=sites[:, :k], keypoint_vel=site_vel[:, :k], com=com,
                          feet=sites[:, k:], feet_vel=site_vel[:, k:])


def forward_kinematics(model: mujoco.MjModel, qpos: np.ndarray,
                       site_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """World positions [T, S, 3] of named sites and the robot's (pelvis subtree's) centre of mass [T, 3] for each
    qpos [T, 36] (MuJoCo forward kinematics)."""
    ids = g1_model.site_ids(model, tuple(site_names))
    data = mujoco.MjData(model)
    sites = np.empty((qpos.shape[0], len(ids), 3))
    com = np.empty((qpos.shape[0], 3))
    for i, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        sites[i] = data.site_xpos[ids]
        com[i] = data.subtree_com[1]
    return sites, com
