"""Reward terms, one small function each, over `PhysicsState` and `ReferenceFrame` arrays of one robot.

Tracking terms are kernels exp(-err^2 / sigma^2) in [0, 1] (1 when the robot is on the reference); regularisers
return a non-negative cost and get a negative weight in the config. The environment's reward is
ctrl_dt * sum_term weight[term] * term.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from brax import math

from genmimic_jax.envs.motion_lib import ReferenceFrame
from genmimic_jax.envs.physics import PhysicsState
from genmimic_jax.robot.g1 import constants

TRACKING_TERMS = ("keypoint_position", "keypoint_velocity", "root_orientation", "root_height", "joint_position")
REGULARISER_TERMS = ("action_rate", "joint_limit", "torque", "undesired_contacts", "feet_slip", "termination")
TERMS = TRACKING_TERMS + REGULARISER_TERMS


def keypoint_weights(group_weights: ml_collections.ConfigDict) -> np.ndarray:
    """Per-keypoint weights [K] from the weight of each keypoint's group (constants.KEYPOINT_GROUPS)."""
    return np.array([group_weights[constants.KEYPOINT_GROUPS[name]] for name in constants.KEYPOINT_NAMES],
                    dtype=np.float32)


def keypoint_position(physics: PhysicsState, ref: ReferenceFrame, weights: jax.Array, sigma: float) -> jax.Array:
    """Group-weighted mean squared world keypoint error through a Gaussian kernel."""
    squared = jnp.sum((physics.keypoints - ref.keypoints) ** 2, axis=-1)
    return jnp.exp(-jnp.sum(weights * squared) / jnp.sum(weights) / sigma**2)


def keypoint_velocity(physics: PhysicsState, ref: ReferenceFrame, sigma: float) -> jax.Array:
    """Mean squared keypoint velocity error through a Gaussian kernel."""
    squared = jnp.sum((physics.keypoint_vel - ref.keypoint_vel) ** 2, axis=-1)
    return jnp.exp(-jnp.mean(squared) / sigma**2)


def orientation_error(quat: jax.Array, ref_quat: jax.Array) -> jax.Array:
    """Angle (rad) of the rotation between two wxyz quaternions."""
    relative = math.quat_mul(math.quat_inv(quat), ref_quat)
    return 2.0 * jnp.arctan2(jnp.linalg.norm(relative[1:]), jnp.abs(relative[0]))


def root_orientation(physics: PhysicsState, ref: ReferenceFrame, sigma: float) -> jax.Array:
    """Root (anchor) orientation error through a Gaussian kernel."""
    return jnp.exp(-orientation_error(physics.qpos[3:7], ref.qpos[3:7]) ** 2 / sigma**2)


def root_height(physics: PhysicsState, ref: ReferenceFrame, sigma: float) -> jax.Array:
    """Root height error through a Gaussian kernel."""
    return jnp.exp(-((physics.qpos[2] - ref.qpos[2]) ** 2) / sigma**2)


def joint_position(physics: PhysicsState, ref: ReferenceFrame, sigma: float) -> jax.Array:
    """Mean squared joint angle error through a Gaussian kernel."""
    return jnp.exp(-jnp.mean((physics.qpos[7:] - ref.qpos[7:]) ** 2) / sigma**2)


def action_rate(action: jax.Array, last_action: jax.Array) -> jax.Array:
    """Squared change of the action between control steps."""
    return jnp.sum((action - last_action) ** 2)


def joint_limit(physics: PhysicsState, soft_fraction: float) -> jax.Array:
    """How far joints are beyond the central `soft_fraction` of their range (rad, summed)."""
    centre = constants.JOINT_LIMITS.mean(axis=1)
    half = 0.5 * soft_fraction * (constants.JOINT_LIMITS[:, 1] - constants.JOINT_LIMITS[:, 0])
    q = physics.qpos[7:]
    return jnp.sum(jnp.maximum(q - (centre + half), 0.0) + jnp.maximum((centre - half) - q, 0.0))


def torque(physics: PhysicsState) -> jax.Array:
    """Sum of squared actuator torques relative to their limits."""
    return jnp.sum((physics.actuator_force / constants.TORQUE_LIMITS) ** 2)


def undesired_contacts(physics: PhysicsState) -> jax.Array:
    """Number of penetrating self-collision contact points (the robot-robot pairs of scene.xml)."""
    return physics.self_contacts


def feet_slip(physics: PhysicsState, contact_force: float) -> jax.Array:
    """Squared horizontal speed of the feet that press on the floor with more than `contact_force` newtons."""
    in_contact = physics.foot_force > contact_force
    return jnp.sum(in_contact * jnp.sum(physics.feet_vel[:, :2] ** 2, axis=-1))


def termination(failed: jax.Array) -> jax.Array:
    """1 when the episode ended in failure (not by time limit)."""
    return failed.astype(jnp.float32)


def compute_terms(physics: PhysicsState, ref: ReferenceFrame, action: jax.Array, last_action: jax.Array,
                  failed: jax.Array, kp_weights: jax.Array,
                  config: ml_collections.ConfigDict) -> dict[str, jax.Array]:
    """All reward terms (unweighted) of one robot; `config` is the env config."""
    sigma = config.reward.sigmas
    return {
        "keypoint_position": keypoint_position(physics, ref, kp_weights, sigma.keypoint_position),
        "keypoint_velocity": keypoint_velocity(physics, ref, sigma.keypoint_velocity),
        "root_orientation": root_orientation(physics, ref, sigma.root_orientation),
        "root_height": root_height(physics, ref, sigma.root_height),
        "joint_position": joint_position(physics, ref, sigma.joint_position),
        "action_rate": action_rate(action, last_action),
        "joint_limit": joint_limit(physics, config.reward.soft_joint_limit),
        "torque": torque(physics),
        "undesired_contacts": undesired_contacts(physics),
        "feet_slip": feet_slip(physics, config.reward.foot_contact_force),
        "termination": termination(failed),
    }
