"""Reward terms of the tracking env, each declared once in `TERMS` with its function, default weight and parameters.

A term is a small function of a `StepContext` (one robot's physics, reference, actions and failure) and its
parameters. Tracking terms are kernels exp(-err^2 / sigma^2) in [0, 1] (1 when the robot is on the reference);
regularisers return a non-negative cost and get a negative weight. The env's default config takes every term's
weight (`reward.weights.<term>`) and parameters (`reward.params.<term>.<name>`) from `TERMS`, so adding a term is
one function and one `TERMS` entry; an ablation changes a weight or a parameter. The environment's reward is
ctrl_dt * sum_term weight[term] * term.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from brax import math

from genmimic_jax.envs import observations
from genmimic_jax.envs.motion_lib import ReferenceFrame
from genmimic_jax.envs.physics import PhysicsState
from genmimic_jax.robot.g1 import constants


@flax.struct.dataclass
class StepContext:
    """What a reward term of one robot may read after a control step."""

    physics: PhysicsState
    ref: ReferenceFrame
    action: jax.Array  # [29] raw action of this step
    last_action: jax.Array  # [29] raw action of the step before
    failed: jax.Array  # [] bool, the episode ended in failure
    keypoint_weights: jax.Array  # [K] per-keypoint weights (`keypoint_weights`)


def keypoint_weights(group_weights: ml_collections.ConfigDict) -> np.ndarray:
    """Per-keypoint weights [K] from the weight of each keypoint's group (constants.KEYPOINT_GROUPS)."""
    return np.array([group_weights[constants.KEYPOINT_GROUPS[name]] for name in constants.KEYPOINT_NAMES],
                    dtype=np.float32)


def _weighted_keypoint_kernel(ctx: StepContext, targets: jax.Array, sigma: float) -> jax.Array:
    """Group-weighted mean squared distance of the robot's keypoints from `targets` [K, 3] through a Gaussian kernel."""
    squared = jnp.sum((ctx.physics.keypoints - targets) ** 2, axis=-1)
    weights = ctx.keypoint_weights
    return jnp.exp(-jnp.sum(weights * squared) / jnp.sum(weights) / sigma**2)


def keypoint_position(ctx: StepContext, sigma: float) -> jax.Array:
    """Group-weighted mean squared world keypoint error through a Gaussian kernel."""
    return _weighted_keypoint_kernel(ctx, ctx.ref.keypoints, sigma)


def anchored_reference(physics: PhysicsState, ref: ReferenceFrame) -> jax.Array:
    """The reference keypoints [K, 3] carried onto the robot's root (BeyondMimic's anchor-relative targets).

    The reference pose relative to its root is turned by the heading between the two roots and placed at the
    robot root's horizontal position; heights stay the reference's. Drift along the path costs nothing here.
    """
    turn = math.quat_mul(observations.heading_quat(physics.qpos[3:7]),
                         math.quat_inv(observations.heading_quat(ref.qpos[3:7])))
    offsets = jax.vmap(math.rotate, in_axes=(0, None))(ref.keypoints - ref.qpos[:3], turn)
    return offsets + jnp.array([physics.qpos[0], physics.qpos[1], ref.qpos[2]])


def keypoint_position_anchored(ctx: StepContext, sigma: float) -> jax.Array:
    """`keypoint_position` against the reference carried onto the robot's root (`anchored_reference`)."""
    return _weighted_keypoint_kernel(ctx, anchored_reference(ctx.physics, ctx.ref), sigma)


def keypoint_velocity(ctx: StepContext, sigma: float) -> jax.Array:
    """Mean squared keypoint velocity error through a Gaussian kernel."""
    squared = jnp.sum((ctx.physics.keypoint_vel - ctx.ref.keypoint_vel) ** 2, axis=-1)
    return jnp.exp(-jnp.mean(squared) / sigma**2)


def center_of_mass(ctx: StepContext, sigma: float) -> jax.Array:
    """Horizontal centre of mass over the feet against the reference's, through a Gaussian kernel.

    Each centre of mass is taken from the middle of its own feet in its own heading frame, so the term asks for the
    reference's balance over wherever the robot's feet stand (a drift along the path costs nothing here), and it
    sees the slow lean that precedes a topple long before the keypoint kernels do.
    """
    def over_feet(com: jax.Array, feet: jax.Array, quat: jax.Array) -> jax.Array:
        return observations.to_heading(com - jnp.mean(feet, axis=0), quat)[:2]

    robot = over_feet(ctx.physics.com, ctx.physics.feet, ctx.physics.qpos[3:7])
    ref = over_feet(ctx.ref.com, ctx.ref.feet, ctx.ref.qpos[3:7])
    return jnp.exp(-jnp.sum((robot - ref) ** 2) / sigma**2)


def orientation_error(quat: jax.Array, ref_quat: jax.Array) -> jax.Array:
    """Angle (rad) of the rotation between two wxyz quaternions."""
    relative = math.quat_mul(math.quat_inv(quat), ref_quat)
    return 2.0 * jnp.arctan2(jnp.linalg.norm(relative[1:]), jnp.abs(relative[0]))


def root_orientation(ctx: StepContext, sigma: float) -> jax.Array:
    """Root (anchor) orientation error through a Gaussian kernel."""
    return jnp.exp(-orientation_error(ctx.physics.qpos[3:7], ctx.ref.qpos[3:7]) ** 2 / sigma**2)


def root_position(ctx: StepContext, sigma: float) -> jax.Array:
    """World root (anchor) position error through a Gaussian kernel."""
    return jnp.exp(-jnp.sum((ctx.physics.qpos[:3] - ctx.ref.qpos[:3]) ** 2) / sigma**2)


def root_height(ctx: StepContext, sigma: float) -> jax.Array:
    """Root height error through a Gaussian kernel."""
    return jnp.exp(-((ctx.physics.qpos[2] - ctx.ref.qpos[2]) ** 2) / sigma**2)


def joint_position(ctx: StepContext, sigma: float) -> jax.Array:
    """Mean squared joint angle error through a Gaussian kernel."""
    return jnp.exp(-jnp.mean((ctx.physics.qpos[7:] - ctx.ref.qpos[7:]) ** 2) / sigma**2)


def action_rate(ctx: StepContext) -> jax.Array:
    """Squared change of the action between control steps."""
    return jnp.sum((ctx.action - ctx.last_action) ** 2)


def joint_limit(ctx: StepContext, soft_fraction: float) -> jax.Array:
    """How far joints are beyond the central `soft_fraction` of their range (rad, summed)."""
    centre = constants.JOINT_LIMITS.mean(axis=1)
    half = 0.5 * soft_fraction * (constants.JOINT_LIMITS[:, 1] - constants.JOINT_LIMITS[:, 0])
    q = ctx.physics.qpos[7:]
    return jnp.sum(jnp.maximum(q - (centre + half), 0.0) + jnp.maximum((centre - half) - q, 0.0))


def torque(ctx: StepContext) -> jax.Array:
    """Sum of squared actuator torques relative to their limits."""
    return jnp.sum((ctx.physics.actuator_force / constants.TORQUE_LIMITS) ** 2)


def undesired_contacts(ctx: StepContext) -> jax.Array:
    """Number of penetrating self-collision contact points (the robot-robot pairs of scene.xml)."""
    return ctx.physics.self_contacts


def feet_slip(ctx: StepContext, contact_force: float) -> jax.Array:
    """Squared horizontal speed of the feet that press on the floor with more than `contact_force` newtons."""
    in_contact = ctx.physics.foot_force > contact_force
    return jnp.sum(in_contact * jnp.sum(ctx.physics.feet_vel[:, :2] ** 2, axis=-1))


def termination(ctx: StepContext) -> jax.Array:
    """1 when the episode ended in failure (not by time limit)."""
    return ctx.failed.astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class Term:
    """A reward term: its function, default weight and default parameters (keyword arguments of `fn`)."""

    fn: Callable[..., jax.Array]
    weight: float
    params: dict[str, float] = dataclasses.field(default_factory=dict)
    tracking: bool = False  # a kernel in [0, 1] that is 1 on the reference


TERMS: dict[str, Term] = {
    "keypoint_position": Term(keypoint_position, 1.0, {"sigma": 0.2}, tracking=True),  # m
    # Off by default: with keypoint_position at 0 and the world termination limits off, this pair makes a
    # drift-blind run (BeyondMimic's); on the CPU recipe it gained nothing (benchmarks/RESULTS.md).
    "keypoint_position_anchored": Term(keypoint_position_anchored, 0.0, {"sigma": 0.2}, tracking=True),  # m
    "root_position": Term(root_position, 0.0, {"sigma": 0.3}, tracking=True),  # m
    "keypoint_velocity": Term(keypoint_velocity, 0.5, {"sigma": 1.0}, tracking=True),  # m/s
    "root_orientation": Term(root_orientation, 0.5, {"sigma": 0.4}, tracking=True),  # rad
    "root_height": Term(root_height, 0.25, {"sigma": 0.1}, tracking=True),  # m
    "joint_position": Term(joint_position, 0.5, {"sigma": 0.5}, tracking=True),  # rad
    "center_of_mass": Term(center_of_mass, 0.0, {"sigma": 0.05}, tracking=True),  # m
    "action_rate": Term(action_rate, -0.1),
    # Fraction of the joint range free of the limit penalty.
    "joint_limit": Term(joint_limit, -10.0, {"soft_fraction": 0.9}),
    "torque": Term(torque, -0.01),
    "undesired_contacts": Term(undesired_contacts, -0.1),
    # N; a foot pressing harder counts as planted.
    "feet_slip": Term(feet_slip, -0.1, {"contact_force": 5.0}),
    "termination": Term(termination, -50.0),
}
TRACKING_TERMS = tuple(name for name, term in TERMS.items() if term.tracking)


def default_config() -> ml_collections.ConfigDict:
    """`reward.weights` and `reward.params` of the env config, from `TERMS`."""
    config = ml_collections.ConfigDict()
    config.weights = ml_collections.ConfigDict({name: term.weight for name, term in TERMS.items()})
    config.params = ml_collections.ConfigDict({name: dict(term.params) for name, term in TERMS.items()})
    return config


def compute_terms(ctx: StepContext, reward_config: ml_collections.ConfigDict) -> dict[str, jax.Array]:
    """All reward terms (unweighted) of one robot; `reward_config` is the env config's `reward` block."""
    return {name: term.fn(ctx, **reward_config.params[name]) for name, term in TERMS.items()}
