"""Observation blocks, their layout and mirror maps, all in the robot's heading (yaw) frame.

An observation is a flat concatenation of named blocks. `ObsLayout` records the block order, sizes and slices
(the ONNX exporter writes it into the model metadata) and builds the left/right mirror map block by block, so
the layout and the mirror can never disagree. Functions here take `PhysicsState` and `ReferenceFrame` arrays,
not simulator data, so MJX and C MuJoCo back ends share them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from brax import math

from genmimic_jax.envs.mirror import MirrorMap, concat
from genmimic_jax.envs.motion_lib import ReferenceFrame
from genmimic_jax.envs.physics import PhysicsState
from genmimic_jax.robot.g1 import constants

PROPRIO_BLOCKS = ("projected_gravity", "base_ang_vel", "joint_pos", "joint_vel", "last_action")


@dataclasses.dataclass(frozen=True)
class ObsBlock:
    name: str
    size: int
    mirror: MirrorMap


@dataclasses.dataclass(frozen=True)
class ObsLayout:
    """Ordered named blocks of a flat observation vector."""

    blocks: tuple[ObsBlock, ...]

    @property
    def size(self) -> int:
        return sum(block.size for block in self.blocks)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(block.name for block in self.blocks)

    @property
    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for block in self.blocks:
            out[block.name] = slice(start, start + block.size)
            start += block.size
        return out

    @property
    def mirror_map(self) -> MirrorMap:
        return concat([block.mirror for block in self.blocks])

    def as_metadata(self) -> list[dict[str, int | str]]:
        """JSON-ready list of {name, start, size} in order."""
        return [{"name": name, "start": s.start, "size": s.stop - s.start} for name, s in self.slices.items()]

    def assemble(self, values: Mapping[str, jax.Array]) -> jax.Array:
        """Concatenates `values` (block name -> array, flattened per block) in layout order."""
        parts = []
        for block in self.blocks:
            value = jnp.reshape(values[block.name], (-1,))
            if value.shape[0] != block.size:
                raise ValueError(f"observation block {block.name!r} has {value.shape[0]} entries, layout says "
                                 f"{block.size}")
            parts.append(value)
        return jnp.concatenate(parts)


# Mirror maps of the feature kinds.
_JOINTS = MirrorMap(perm=constants.JOINT_MIRROR_INDEX, sign=constants.JOINT_MIRROR_SIGN)
_KEYPOINTS = MirrorMap(perm=constants.KEYPOINT_MIRROR_INDEX,
                       sign=np.ones(len(constants.KEYPOINT_NAMES))).over_items(MirrorMap.vector3())
# Rotation features are the first two columns of a relative rotation R; mirrored R is M R M with M = diag(1, -1, 1),
# so the first column mirrors as a vector and the second as a vector with the opposite sign.
_ROTATION_6D = concat([MirrorMap.vector3(), MirrorMap(perm=np.arange(3), sign=np.array([-1.0, 1.0, -1.0]))])


def proprio_layout() -> ObsLayout:
    """The deployable per-step proprioception, also the unit of the history."""
    return ObsLayout((
        ObsBlock("projected_gravity", 3, MirrorMap.vector3()),
        ObsBlock("base_ang_vel", 3, MirrorMap.axial3()),
        ObsBlock("joint_pos", constants.NUM_JOINTS, _JOINTS),
        ObsBlock("joint_vel", constants.NUM_JOINTS, _JOINTS),
        ObsBlock("last_action", constants.NUM_JOINTS, _JOINTS),
    ))


def actor_layout(history_length: int, num_goal_frames: int, base_lin_vel: bool = False) -> ObsLayout:
    """Student/actor: proprioception now, with `base_lin_vel` the root's linear velocity in its body frame (a state
    estimator's on the robot), the proprioception's history (most recent first), goal keypoints of the goal frames."""
    proprio = proprio_layout()
    velocity = (ObsBlock("base_lin_vel", 3, MirrorMap.vector3()),) if base_lin_vel else ()
    return ObsLayout(proprio.blocks + velocity + (
        ObsBlock("proprio_history", history_length * proprio.size, proprio.mirror_map.tile(history_length)),
        ObsBlock("goal_keypoints", num_goal_frames * _KEYPOINTS.size, _KEYPOINTS.tile(num_goal_frames)),
    ))


def privileged_layout(num_goal_frames: int, params_mirror: MirrorMap) -> ObsLayout:
    """Teacher/critic: the actor's current-step blocks (noise-free) and the simulator's hidden state."""
    k = len(constants.KEYPOINT_NAMES)
    return ObsLayout(proprio_layout().blocks + (
        ObsBlock("goal_keypoints", num_goal_frames * _KEYPOINTS.size, _KEYPOINTS.tile(num_goal_frames)),
        ObsBlock("base_lin_vel", 3, MirrorMap.vector3()),
        ObsBlock("root_height", 1, MirrorMap.identity(1)),
        ObsBlock("keypoint_pos", 3 * k, _KEYPOINTS),
        ObsBlock("keypoint_vel", 3 * k, _KEYPOINTS),
        ObsBlock("ref_root_pos", 3, MirrorMap.vector3()),
        ObsBlock("ref_root_rot6d", 6, _ROTATION_6D),
        ObsBlock("ref_root_lin_vel", 3, MirrorMap.vector3()),
        ObsBlock("ref_root_ang_vel", 3, MirrorMap.axial3()),
        ObsBlock("ref_joint_pos_error", constants.NUM_JOINTS, _JOINTS),
        ObsBlock("ref_joint_vel", constants.NUM_JOINTS, _JOINTS),
        ObsBlock("foot_force", 2, MirrorMap(perm=np.array([1, 0]), sign=np.ones(2))),
        ObsBlock("physics_params", params_mirror.size, params_mirror),
    ))


def heading_quat(quat: jax.Array) -> jax.Array:
    """The yaw-only part (wxyz) of a root orientation `quat` (wxyz)."""
    w, x, y, z = quat[0], quat[1], quat[2], quat[3]
    yaw = jnp.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return jnp.array([jnp.cos(yaw / 2), 0.0, 0.0, jnp.sin(yaw / 2)])


def to_heading(vectors: jax.Array, quat: jax.Array) -> jax.Array:
    """World vectors [..., 3] expressed in the heading frame of root orientation `quat`."""
    heading = heading_quat(quat)
    flat = jnp.reshape(vectors, (-1, 3))
    return jnp.reshape(jax.vmap(math.inv_rotate, in_axes=(0, None))(flat, heading), vectors.shape)


def projected_gravity(quat: jax.Array) -> jax.Array:
    """The unit gravity direction in the root (body) frame: [0, 0, -1] when upright."""
    return math.inv_rotate(jnp.array([0.0, 0.0, -1.0]), quat)


def proprioception(physics: PhysicsState, last_action: jax.Array) -> dict[str, jax.Array]:
    """The proprio blocks of one robot."""
    return {
        "projected_gravity": projected_gravity(physics.qpos[3:7]),
        "base_ang_vel": physics.qvel[3:6],
        "joint_pos": physics.qpos[7:] - constants.DEFAULT_POSE,
        "joint_vel": physics.qvel[6:],
        "last_action": last_action,
    }


def _keypoint_chain() -> tuple[np.ndarray, np.ndarray]:
    """Each keypoint's parent index [K] (the pelvis its own) and [K, K] 1 where bone b (keypoint b minus its
    parent) lies on the chain from the pelvis to keypoint c."""
    index = constants.KEYPOINT_INDEX
    parent = np.array([index[constants.KEYPOINT_PARENT.get(name, name)] for name in constants.KEYPOINT_NAMES])
    on_chain = np.zeros((len(parent), len(parent)))
    for c in range(len(parent)):
        b = c
        while parent[b] != b:
            on_chain[c, b], b = 1.0, parent[b]
    return parent, on_chain


_KEYPOINT_PARENT_INDEX, _BONE_ON_CHAIN = _keypoint_chain()


def scale_bones(keypoints, factors):
    """Keypoints [..., K, 3] of a body with bone b (keypoint b minus its parent, `constants.KEYPOINT_PARENT`) scaled
    by factors[..., b] [..., K] (the pelvis's factor is unused): the pelvis stays, each keypoint follows its parent's
    new position. numpy or JAX arrays alike."""
    bones = keypoints - keypoints[..., _KEYPOINT_PARENT_INDEX, :]
    root = keypoints[..., constants.KEYPOINT_INDEX["pelvis"], None, :]
    return root + (_BONE_ON_CHAIN * factors[..., None, :]) @ bones


def goal_keypoints(physics: PhysicsState, keypoints: jax.Array) -> jax.Array:
    """Goal keypoints [G, K, 3] (world) relative to the robot's root, in its heading frame."""
    return to_heading(keypoints - physics.qpos[:3], physics.qpos[3:7])


def base_lin_vel(physics: PhysicsState) -> jax.Array:
    """The root's linear velocity [3] in its body frame."""
    return math.inv_rotate(physics.qvel[:3], physics.qpos[3:7])


def privileged_state(physics: PhysicsState, ref: ReferenceFrame, next_ref: ReferenceFrame) -> dict[str, jax.Array]:
    """The hidden-state blocks of one robot, its current reference frame and the frame its next action reaches.

    The reference joints of the next frame (relative to the robot's joints) tell a teacher the servo targets
    that play the clip back, which the keypoints give only through the robot's kinematics.
    """
    quat = physics.qpos[3:7]
    root = physics.qpos[:3]
    relative = math.quat_to_3x3(math.quat_mul(math.quat_inv(quat), ref.qpos[3:7]))  # R_robot^T R_ref
    ref_ang_vel_world = math.rotate(ref.qvel[3:6], ref.qpos[3:7])
    return {
        "base_lin_vel": base_lin_vel(physics),
        "root_height": physics.qpos[2:3],
        "keypoint_pos": to_heading(physics.keypoints - root, quat),
        "keypoint_vel": to_heading(physics.keypoint_vel, quat),
        "ref_root_pos": to_heading(ref.qpos[:3] - root, quat),
        "ref_root_rot6d": jnp.concatenate([relative[:, 0], relative[:, 1]]),
        "ref_root_lin_vel": to_heading(ref.qvel[:3], quat),
        "ref_root_ang_vel": to_heading(ref_ang_vel_world, quat),
        "ref_joint_pos_error": next_ref.qpos[7:] - physics.qpos[7:],
        "ref_joint_vel": next_ref.qvel[6:],
        "foot_force": physics.foot_force,
    }


def goal_frames(offsets: Sequence[int]) -> np.ndarray:
    """The goal frame offsets (control steps ahead of the current reference frame) as an array."""
    offsets = np.asarray(offsets, dtype=np.int32)
    if offsets.ndim != 1 or offsets.size == 0 or np.any(offsets < 0):
        raise ValueError(f"goal offsets must be a non-empty list of non-negative frame counts, got {offsets}")
    return offsets
