"""Failure conditions of one robot, over `PhysicsState` and `ReferenceFrame` arrays.

Falls are judged against the reference (as BeyondMimic does), so motions that crouch or lie down are not
mistaken for falls. A threshold of 0 turns its condition off.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genmimic_jax.envs import observations
from genmimic_jax.envs.motion_lib import ReferenceFrame
from genmimic_jax.envs.physics import PhysicsState
from genmimic_jax.robot.g1 import constants

END_EFFECTORS = np.array([i for i, name in enumerate(constants.KEYPOINT_NAMES)
                          if constants.KEYPOINT_GROUPS[name] == "end_effector"])


def _beyond(error: jax.Array, threshold: float) -> jax.Array:
    """`error` exceeds `threshold`; never when the threshold is 0 (the condition is off)."""
    return (error > threshold) & (threshold > 0)


def fall(physics: PhysicsState, ref: ReferenceFrame, max_gravity_error: float, max_height_error: float) -> jax.Array:
    """The root tilts away from the reference's tilt, or its height leaves the reference's, beyond thresholds."""
    gravity_z = observations.projected_gravity(physics.qpos[3:7])[2]
    ref_gravity_z = observations.projected_gravity(ref.qpos[3:7])[2]
    tilted = _beyond(jnp.abs(gravity_z - ref_gravity_z), max_gravity_error)
    return tilted | _beyond(jnp.abs(physics.qpos[2] - ref.qpos[2]), max_height_error)


def mean_keypoint_error(physics: PhysicsState, ref: ReferenceFrame) -> jax.Array:
    """Mean world distance (m) between the robot's and the reference's keypoints."""
    return jnp.mean(jnp.linalg.norm(physics.keypoints - ref.keypoints, axis=-1))


def keypoint_error(physics: PhysicsState, ref: ReferenceFrame, max_error: float) -> jax.Array:
    """The mean keypoint error exceeds `max_error` metres."""
    return _beyond(mean_keypoint_error(physics, ref), max_error)


def anchor_error(physics: PhysicsState, ref: ReferenceFrame, max_error: float) -> jax.Array:
    """The root is further than `max_error` metres from the reference root."""
    return _beyond(jnp.linalg.norm(physics.qpos[:3] - ref.qpos[:3]), max_error)


def end_effector_height(physics: PhysicsState, ref: ReferenceFrame, max_error: float) -> jax.Array:
    """An end-effector keypoint (feet, hands, head) is more than `max_error` metres above or below the reference's
    (BeyondMimic's drift-blind limb check)."""
    heights = physics.keypoints[END_EFFECTORS, 2] - ref.keypoints[END_EFFECTORS, 2]
    return _beyond(jnp.max(jnp.abs(heights)), max_error)


def compute_failures(physics: PhysicsState, ref: ReferenceFrame,
                     config: ml_collections.ConfigDict) -> dict[str, jax.Array]:
    """All failure conditions of one robot; `config` is the env config."""
    term = config.termination
    return {
        "fall": fall(physics, ref, term.max_gravity_error, term.max_height_error),
        "keypoint_error": keypoint_error(physics, ref, term.max_keypoint_error),
        "anchor_error": anchor_error(physics, ref, term.max_anchor_error),
        "end_effector_height": end_effector_height(physics, ref, term.max_end_effector_height_error),
    }
