"""Domain randomisation of the G1's physics, resampled per environment at every reset.

Each environment carries its `PhysicsParams`; every step turns them into that environment's model fields
(`model_fields`), which the physics back end applies (MJX: a per-env `mjx.Model` inside the vmap; C MuJoCo: written
into the worker's `MjModel` before the robot steps), so randomisation is per episode and stays a pure function of
the state.
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import mujoco
import numpy as np

from genmimic_jax.envs.mirror import MirrorMap, concat
from genmimic_jax.robot.g1 import constants

COM_BODY = "torso_link"


@flax.struct.dataclass
class PhysicsParams:
    """Randomised physical parameters of one environment (nominal values are ones and zeros)."""

    friction: jax.Array  # [] scale of the foot-floor sliding friction
    mass_scale: jax.Array  # [nbody - 1] per robot body (mass and inertia)
    com_offset: jax.Array  # [3] torso centre-of-mass shift (m, body frame)
    armature_scale: jax.Array  # []
    kp_scale: jax.Array  # [29]
    kd_scale: jax.Array  # [29]
    strength: jax.Array  # [29] motor strength: scales the whole PD torque
    action_delay: jax.Array  # [] int32, control steps

    def vector(self) -> jax.Array:
        """The parameters as the flat privileged-observation block (layout of `mirror_map`)."""
        return jnp.concatenate([
            self.friction[..., None], self.mass_scale, self.com_offset, self.armature_scale[..., None],
            self.kp_scale, self.kd_scale, self.strength, self.action_delay[..., None].astype(jnp.float32)], axis=-1)


@dataclasses.dataclass(frozen=True)
class Nominal:
    """The unrandomised model arrays that the parameters scale."""

    body_mass: np.ndarray
    body_inertia: np.ndarray
    body_ipos: np.ndarray
    dof_armature: np.ndarray
    pair_friction: np.ndarray
    floor_pairs: np.ndarray  # [npair] bool
    kp: np.ndarray
    kd: np.ndarray
    gainprm: np.ndarray
    biasprm: np.ndarray
    com_body: int
    body_mirror: np.ndarray  # [nbody - 1] mirror permutation of the robot bodies

    @classmethod
    def from_model(cls, model: mujoco.MjModel) -> Nominal:
        floor = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
        names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(1, model.nbody)]
        swapped = [n.replace("left_", "@").replace("right_", "left_").replace("@", "right_") for n in names]
        return cls(
            body_mass=model.body_mass.copy(), body_inertia=model.body_inertia.copy(),
            body_ipos=model.body_ipos.copy(), dof_armature=model.dof_armature.copy(),
            pair_friction=model.pair_friction.copy(),
            floor_pairs=(model.pair_geom1 == floor) | (model.pair_geom2 == floor),
            kp=model.actuator_gainprm[:, 0].copy(), kd=-model.actuator_biasprm[:, 2].copy(),
            gainprm=model.actuator_gainprm.copy(), biasprm=model.actuator_biasprm.copy(),
            com_body=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, COM_BODY),
            body_mirror=np.array([names.index(n) for n in swapped]))

    @property
    def num_bodies(self) -> int:
        return self.body_mass.shape[0] - 1


def nominal_params(nominal: Nominal) -> PhysicsParams:
    """The parameters of the unrandomised robot."""
    ones = jnp.ones(constants.NUM_JOINTS)
    return PhysicsParams(friction=jnp.ones(()), mass_scale=jnp.ones(nominal.num_bodies), com_offset=jnp.zeros(3),
                         armature_scale=jnp.ones(()), kp_scale=ones, kd_scale=ones, strength=ones,
                         action_delay=jnp.zeros((), jnp.int32))


def sample_params(rng: jax.Array, nominal: Nominal, config: ml_collections.ConfigDict) -> PhysicsParams:
    """Parameters drawn uniformly from the config's ranges (`config.randomization`)."""
    rand = config.randomization
    keys = jax.random.split(rng, 8)

    def uniform(key, value_range, shape=()):
        return jax.random.uniform(key, shape, minval=value_range[0], maxval=value_range[1])

    n = constants.NUM_JOINTS
    return PhysicsParams(
        friction=uniform(keys[0], rand.friction_range),
        mass_scale=uniform(keys[1], rand.mass_scale_range, (nominal.num_bodies,)),
        com_offset=uniform(keys[2], (-rand.com_offset, rand.com_offset), (3,)),
        armature_scale=uniform(keys[3], rand.armature_scale_range),
        kp_scale=uniform(keys[4], rand.kp_scale_range, (n,)),
        kd_scale=uniform(keys[5], rand.kd_scale_range, (n,)),
        strength=uniform(keys[6], rand.strength_range, (n,)),
        action_delay=jax.random.randint(keys[7], (), 0, rand.max_action_delay + 1),
    )


def model_fields(nominal: Nominal, params: PhysicsParams) -> dict[str, jax.Array]:
    """The model fields one environment's parameters change, by MuJoCo field name (every physics back end)."""
    body_scale = jnp.concatenate([jnp.ones(1), params.mass_scale])
    friction = jnp.where(nominal.floor_pairs[:, None] & (np.arange(5) < 2), params.friction, 1.0)
    kp = nominal.kp * params.kp_scale * params.strength
    kd = nominal.kd * params.kd_scale * params.strength
    return {
        "body_mass": nominal.body_mass * body_scale,
        "body_inertia": nominal.body_inertia * body_scale[:, None],
        "body_ipos": jnp.asarray(nominal.body_ipos).at[nominal.com_body].add(params.com_offset),
        "dof_armature": nominal.dof_armature * params.armature_scale,
        "pair_friction": nominal.pair_friction * friction,
        "actuator_gainprm": jnp.asarray(nominal.gainprm).at[:, 0].set(kp),
        "actuator_biasprm": jnp.asarray(nominal.biasprm).at[:, 1].set(-kp).at[:, 2].set(-kd),
    }


def mirror_map(nominal: Nominal) -> MirrorMap:
    """Mirror of `PhysicsParams.vector()`: bodies and joints swap sides, the CoM offset's y flips."""
    joints = MirrorMap(perm=constants.JOINT_MIRROR_INDEX, sign=np.ones(constants.NUM_JOINTS))
    return concat([MirrorMap.identity(1), MirrorMap(perm=nominal.body_mirror, sign=np.ones(nominal.num_bodies)),
                   MirrorMap.vector3(), MirrorMap.identity(1), joints, joints, joints, MirrorMap.identity(1)])

