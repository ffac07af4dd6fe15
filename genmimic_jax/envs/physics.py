"""The simulator-independent physical state that observations, rewards and terminations are computed from.

`PhysicsState` holds plain arrays, so the same observation, reward and termination functions run on MJX
(`from_mjx`) and on plain C MuJoCo (`from_mujoco`, for CPU evaluation and sim-to-sim).
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
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
    feet: jax.Array  # [2, 3] world positions of constants.FOOT_SITES
    feet_vel: jax.Array  # [2, 3]
    foot_force: jax.Array  # [2] floor normal force on the left and right foot (N)
    actuator_force: jax.Array  # [29]
    self_contacts: jax.Array  # [] number of penetrating self-collision contact points


@dataclasses.dataclass(frozen=True)
class ModelIndex:
    """Static ids the extraction needs, read once from the MuJoCo model."""

    keypoint_sites: np.ndarray
    foot_sites: np.ndarray
    site_body: np.ndarray  # body of every site
    floor_geom: int
    left_foot_geoms: np.ndarray
    right_foot_geoms: np.ndarray

    @classmethod
    def from_model(cls, model: mujoco.MjModel) -> ModelIndex:
        floor = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
        if floor < 0:
            raise KeyError("the G1 scene has no geom named 'floor'")
        foot_geoms = {side: np.array([mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f"{side}_foot_contact_{i}")
                                      for i in range(4)]) for side in ("left", "right")}
        return cls(keypoint_sites=g1_model.site_ids(model, constants.KEYPOINT_SITES),
                   foot_sites=g1_model.site_ids(model, constants.FOOT_SITES),
                   site_body=np.asarray(model.site_bodyid), floor_geom=floor,
                   left_foot_geoms=foot_geoms["left"], right_foot_geoms=foot_geoms["right"])


def _site_velocity(d: mjx.Data, index: ModelIndex, sites: np.ndarray) -> jax.Array:
    """World linear velocities [S, 3] of sites from the bodies' spatial velocities (as mj_objectVelocity)."""
    body = index.site_body[sites]
    cvel = d.cvel[body]  # [S, 6] angular, linear at the root subtree's centre of mass
    offset = d.site_xpos[sites] - d.subtree_com[1]  # the pelvis (body 1) roots the subtree of every site
    return cvel[:, 3:] + jnp.cross(cvel[:, :3], offset)


def from_mjx(d: mjx.Data, index: ModelIndex) -> PhysicsState:
    """The physical state of one MJX data (after mjx.step or mjx.forward)."""
    contact = d._impl.contact  # pylint: disable=protected-access
    # Pyramidal cone, condim 3: the normal force is the sum of the four pyramid edge forces.
    efc = d._impl.efc_force[contact.efc_address[:, None] + np.arange(4)]  # pylint: disable=protected-access
    normal = jnp.where(contact.efc_address >= 0, efc.sum(axis=1), 0.0)
    geom = contact.geom
    on_floor = jnp.any(geom == index.floor_geom, axis=1)
    left = jnp.isin(geom, index.left_foot_geoms).any(axis=1) & on_floor
    right = jnp.isin(geom, index.right_foot_geoms).any(axis=1) & on_floor
    return PhysicsState(
        qpos=d.qpos, qvel=d.qvel,
        keypoints=d.site_xpos[index.keypoint_sites], keypoint_vel=_site_velocity(d, index, index.keypoint_sites),
        feet=d.site_xpos[index.foot_sites], feet_vel=_site_velocity(d, index, index.foot_sites),
        foot_force=jnp.stack([jnp.sum(normal * left), jnp.sum(normal * right)]),
        actuator_force=d.actuator_force,
        self_contacts=jnp.sum((~on_floor) & (contact.dist < 0)).astype(jnp.float32),
    )


def from_mujoco(model: mujoco.MjModel, data: mujoco.MjData, index: ModelIndex) -> PhysicsState:
    """The physical state of a C MuJoCo MjData (after mj_step or mj_forward), as numpy arrays."""
    velocity = np.zeros(6)

    def site_vel(sites: np.ndarray) -> np.ndarray:
        out = np.empty((len(sites), 3))
        for i, site in enumerate(sites):
            mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_SITE, int(site), velocity, 0)
            out[i] = velocity[3:]
        return out

    foot_force, self_contacts, force = np.zeros(2), 0.0, np.zeros(6)
    for i, contact in enumerate(data.contact):
        geoms = (contact.geom1, contact.geom2)
        if index.floor_geom in geoms:
            mujoco.mj_contactForce(model, data, i, force)
            foot_force[0] += force[0] * any(g in index.left_foot_geoms for g in geoms)
            foot_force[1] += force[0] * any(g in index.right_foot_geoms for g in geoms)
        elif contact.dist < 0:
            self_contacts += 1.0
    return PhysicsState(
        qpos=data.qpos.copy(), qvel=data.qvel.copy(),
        keypoints=data.site_xpos[index.keypoint_sites].copy(), keypoint_vel=site_vel(index.keypoint_sites),
        feet=data.site_xpos[index.foot_sites].copy(), feet_vel=site_vel(index.foot_sites),
        foot_force=foot_force, actuator_force=data.actuator_force.copy(), self_contacts=np.float64(self_contacts))


def from_reference(ref: motion_lib.ReferenceFrame) -> PhysicsState:
    """The physical state of a robot placed exactly on the reference (no contact or actuator forces yet)."""
    return PhysicsState(qpos=ref.qpos, qvel=ref.qvel, keypoints=ref.keypoints, keypoint_vel=ref.keypoint_vel,
                        feet=ref.feet, feet_vel=ref.feet_vel, foot_force=jnp.zeros(ref.qpos.shape[:-1] + (2,)),
                        actuator_force=jnp.zeros(ref.qpos.shape[:-1] + (constants.NUM_JOINTS,)),
                        self_contacts=jnp.zeros(ref.qpos.shape[:-1]))


def is_finite(physics: PhysicsState) -> jax.Array:
    """False where the simulation blew up (any non-finite generalised position or velocity)."""
    return jnp.all(jnp.isfinite(physics.qpos), axis=-1) & jnp.all(jnp.isfinite(physics.qvel), axis=-1)
