"""The simulator-independent physical state that observations, rewards and terminations are computed from.

`PhysicsState` holds plain arrays, so the same observation, reward and termination functions run on every physics
back end: each reports a `SimulatorOutput` (raw simulator arrays) and `derive` computes the state from it.
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from jax.typing import ArrayLike
from mujoco import mjx

from genmimic_jax.envs import motion_lib
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model


@flax.struct.dataclass
class PhysicsState:
    """One robot's physical state (any leading batch dims)."""

    qpos: jax.Array  # [36]
    qvel: jax.Array  # [35], free joint: world linear, body angular velocity
    keypoints: jax.Array  # [K, 3] world positions of constants.KEYPOINT_SITES
    keypoint_vel: jax.Array  # [K, 3] world linear velocities
    com: jax.Array  # [3] world centre of mass of the robot
    feet: jax.Array  # [2, 3] world positions of constants.FOOT_SITES
    feet_vel: jax.Array  # [2, 3]
    foot_force: jax.Array  # [2] floor normal force on the left and right foot (N)
    actuator_force: jax.Array  # [29]
    self_contacts: jax.Array  # [] number of penetrating self-collision contact points


FLOOR_GEOM = "floor"
# The contact boxes under each foot (left, right).
FOOT_CONTACT_GEOMS: tuple[tuple[str, ...], tuple[str, ...]] = tuple(
    tuple(f"{side}_foot_contact_{i}" for i in range(4)) for side in ("left", "right"))


@dataclasses.dataclass(frozen=True)
class ModelIndex:
    """Static ids the extraction needs, read once from the MuJoCo model."""

    keypoint_sites: np.ndarray
    foot_sites: np.ndarray
    site_body: np.ndarray  # body of every site
    floor_geom: int
    left_foot_geoms: np.ndarray
    right_foot_geoms: np.ndarray

    @property
    def sites(self) -> np.ndarray:
        """The sites a simulator reports: keypoint sites, then foot sites."""
        return np.concatenate([self.keypoint_sites, self.foot_sites])

    @classmethod
    def from_model(cls, model: mujoco.MjModel) -> ModelIndex:
        floor = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, FLOOR_GEOM)
        if floor < 0:
            raise KeyError(f"the G1 scene has no geom named {FLOOR_GEOM!r}")
        left, right = (np.array([mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name) for name in names])
                       for names in FOOT_CONTACT_GEOMS)
        return cls(keypoint_sites=g1_model.site_ids(model, constants.KEYPOINT_SITES),
                   foot_sites=g1_model.site_ids(model, constants.FOOT_SITES),
                   site_body=np.asarray(model.site_bodyid), floor_geom=floor,
                   left_foot_geoms=left, right_foot_geoms=right)


@flax.struct.dataclass
class SimulatorOutput:
    """What a simulator reports of one robot after a control step, before anything is derived from it.

    Positions and velocities are those after the last substep; the rest was computed at the start of that substep
    (what `mjx.step` and `mj_step` both leave).
    """

    qpos: jax.Array  # [36]
    qvel: jax.Array  # [35]
    site_xpos: jax.Array  # [S, 3] keypoint sites, then foot sites
    site_vel: jax.Array  # [S, 3] world linear velocity of each site
    root_com: jax.Array  # [3] the pelvis subtree's centre of mass
    actuator_force: jax.Array  # [29]
    foot_force: jax.Array  # [2] floor normal force on the left and right foot
    self_contacts: jax.Array  # [] number of penetrating contact points between two robot geoms


def derive(out: SimulatorOutput, index: ModelIndex) -> PhysicsState:
    """The physical state from what a simulator reports (one robot; the same code for every back end)."""
    num_keypoints = len(index.keypoint_sites)
    return PhysicsState(
        qpos=out.qpos, qvel=out.qvel,
        keypoints=out.site_xpos[:num_keypoints], keypoint_vel=out.site_vel[:num_keypoints], com=out.root_com,
        feet=out.site_xpos[num_keypoints:], feet_vel=out.site_vel[num_keypoints:],
        foot_force=out.foot_force, actuator_force=out.actuator_force,
        self_contacts=jnp.asarray(out.self_contacts, jnp.float32),
    )


def simulator_output(qpos: ArrayLike, qvel: ArrayLike, site_xpos: ArrayLike, site_cvel: ArrayLike, root_com: ArrayLike,
                     actuator_force: ArrayLike, contact_geom: ArrayLike, contact_dist: ArrayLike,
                     contact_efc_address: ArrayLike, efc_force: ArrayLike, index: ModelIndex) -> SimulatorOutput:
    """What a simulator reports of one robot, from MuJoCo's arrays (MJX's or C MuJoCo's alike).

    Args:
      site_xpos, site_cvel: [S, 3] and [S, 6] of `index.sites` (cvel: the site body's spatial velocity about
        `root_com`, angular first, as MuJoCo's `cvel`).
      root_com: [3] the pelvis subtree's centre of mass.
      contact_geom, contact_dist, contact_efc_address: [C, 2], [C], [C] of the contacts (address < 0: no force).
      efc_force: the constraint forces the contacts' addresses point into.
    """
    # Pyramidal cone, condim 3: the normal force is the sum of the four pyramid edge forces.
    edges = efc_force[jnp.maximum(contact_efc_address, 0)[:, None] + np.arange(4)].sum(axis=1)
    force = jnp.where(contact_efc_address >= 0, edges, 0.0)
    on_floor = jnp.any(contact_geom == index.floor_geom, axis=1)
    left = jnp.isin(contact_geom, index.left_foot_geoms).any(axis=1) & on_floor
    right = jnp.isin(contact_geom, index.right_foot_geoms).any(axis=1) & on_floor
    return SimulatorOutput(
        qpos=jnp.asarray(qpos), qvel=jnp.asarray(qvel), site_xpos=jnp.asarray(site_xpos),
        site_vel=site_cvel[:, 3:] + jnp.cross(site_cvel[:, :3], site_xpos - root_com), root_com=jnp.asarray(root_com),
        actuator_force=jnp.asarray(actuator_force),
        foot_force=jnp.stack([jnp.sum(force * left), jnp.sum(force * right)]),
        self_contacts=jnp.sum((~on_floor) & (contact_dist < 0)).astype(jnp.float32))


def mjx_output(d: mjx.Data, index: ModelIndex) -> SimulatorOutput:
    """What one MJX data (after mjx.step) reports."""
    contact = d._impl.contact  # pylint: disable=protected-access
    sites = index.sites
    return simulator_output(d.qpos, d.qvel, d.site_xpos[sites], d.cvel[index.site_body[sites]], d.subtree_com[1],
                            d.actuator_force, contact.geom, contact.dist, contact.efc_address,
                            d._impl.efc_force, index)  # pylint: disable=protected-access


def mujoco_output(data: mujoco.MjData, index: ModelIndex) -> SimulatorOutput:
    """What one C MuJoCo data (after mj_step or mj_forward) reports, from MuJoCo's own arrays: the reference that
    the C MuJoCo back end's sensor readings are checked against."""
    sites = index.sites
    contact, count = data.contact, data.ncon
    return simulator_output(data.qpos, data.qvel, data.site_xpos[sites], data.cvel[index.site_body[sites]],
                            data.subtree_com[1], data.actuator_force, contact.geom[:count], contact.dist[:count],
                            contact.efc_address[:count], data.efc_force, index)


def from_mjx(d: mjx.Data, index: ModelIndex) -> PhysicsState:
    """The physical state of one MJX data (after mjx.step or mjx.forward)."""
    return derive(mjx_output(d, index), index)


def from_reference(ref: motion_lib.ReferenceFrame) -> PhysicsState:
    """The physical state of a robot placed exactly on the reference (no contact or actuator forces yet)."""
    return PhysicsState(qpos=ref.qpos, qvel=ref.qvel, keypoints=ref.keypoints, keypoint_vel=ref.keypoint_vel,
                        com=ref.com, feet=ref.feet, feet_vel=ref.feet_vel,
                        foot_force=jnp.zeros(ref.qpos.shape[:-1] + (2,)),
                        actuator_force=jnp.zeros(ref.qpos.shape[:-1] + (constants.NUM_JOINTS,)),
                        self_contacts=jnp.zeros(ref.qpos.shape[:-1]))


def is_finite(physics: PhysicsState) -> jax.Array:
    """False where the simulation blew up (any non-finite generalised position or velocity)."""
    return jnp.all(jnp.isfinite(physics.qpos), axis=-1) & jnp.all(jnp.isfinite(physics.qvel), axis=-1)
