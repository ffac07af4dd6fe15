"""The simulators a `TrackingEnv` can step: MJX (accelerators) or plain C MuJoCo (CPUs).

Both back ends have one interface over a single robot, vmapped by the env like any JAX function:

- `init(qpos, qvel, ctrl)` -> the robot's simulator state (a pytree with `qpos` and `qvel`);
- `step(sim_state, ctrl, model_fields)` -> (next simulator state, `PhysicsState`), holding the servo targets `ctrl`
  for `substeps` physics steps, with the robot's randomised model fields (`randomization.model_fields`) or None.

The C MuJoCo back end runs every robot's physics in one host callback (`jax.pure_callback`; under `vmap` it
receives the whole batch) on a persistent thread pool (`mj_step` releases the GIL). Its simulator state is the
robot's whole integration state (qpos, qvel and the constraint solver's warm start), so the callback is a pure
function: training stays one jitted program, checkpoints hold the physics exactly, and results do not depend on
the number of threads. `resolve` is the one place that picks a back end.
"""

from __future__ import annotations

import concurrent.futures
import copy
import os
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from genmimic_jax.envs import physics as physics_lib

BACKENDS = ("mjx", "mujoco")
_ACCELERATORS = ("gpu", "cuda", "rocm", "tpu")


def resolve(name: str) -> str:
    """The back end to run: `name`, or for 'auto' MJX when JAX has an accelerator and C MuJoCo on a CPU."""
    if name == "auto":
        return "mjx" if jax.default_backend() in _ACCELERATORS else "mujoco"
    if name not in BACKENDS:
        raise ValueError(f"env.physics must be 'auto' or one of {BACKENDS}, got {name!r}")
    return name


def describe(name: str, threads: int = 0) -> str:
    """One line saying which back end runs and why (for the first lines of a run)."""
    chosen = resolve(name)
    how = (f"C MuJoCo on {resolve_threads(threads)} threads" if chosen == "mujoco"
           else f"MJX on {jax.default_backend()}")
    why = f"auto: JAX's default device is {jax.default_backend()}" if name == "auto" else "as configured"
    return f"physics back end: {chosen} ({how}; {why})"


def resolve_threads(threads: int) -> int:
    """`threads`, or every core of this machine when it is 0."""
    return int(threads) if threads > 0 else (os.cpu_count() or 1)


def make(name: str, mj_model: mujoco.MjModel, substeps: int, threads: int = 0) -> MjxBackend | MujocoBackend:
    """The back end `name` ('auto', 'mjx' or 'mujoco') for `mj_model`, stepping `substeps` times per control step."""
    if resolve(name) == "mjx":
        return MjxBackend(mj_model, substeps)
    return MujocoBackend(mj_model, substeps, resolve_threads(threads))


class MjxBackend:
    """MJX: the whole step traced into the caller's program."""

    name = "mjx"

    def __init__(self, mj_model: mujoco.MjModel, substeps: int):
        self.substeps = substeps
        self.model = mjx.put_model(mj_model)
        self.index = physics_lib.ModelIndex.from_model(mj_model)
        self._template = mjx.make_data(mj_model)

    def init(self, qpos: jax.Array, qvel: jax.Array, ctrl: jax.Array) -> mjx.Data:
        return self._template.replace(qpos=qpos, qvel=qvel, ctrl=ctrl)

    def step(self, data: mjx.Data, ctrl: jax.Array,
             model_fields: dict[str, jax.Array] | None) -> tuple[mjx.Data, physics_lib.PhysicsState]:
        model = self.model if model_fields is None else self.model.tree_replace(model_fields)
        data = data.replace(ctrl=ctrl)
        data = jax.lax.fori_loop(0, self.substeps, lambda _, d: mjx.step(model, d), data)
        return data, physics_lib.from_mjx(data, self.index)


@flax.struct.dataclass
class MujocoState:
    """One robot's C MuJoCo integration state (what `mj_step` needs besides the model and the controls)."""

    qpos: jax.Array  # [nq]
    qvel: jax.Array  # [nv]
    qacc_warmstart: jax.Array  # [nv] the constraint solver's warm start
    ctrl: jax.Array  # [nu] the servo targets of the last step


class MujocoBackend:
    """C MuJoCo: every robot of the batch advanced by one host callback on `threads` worker threads.

    Each worker owns one `MjModel` (randomised fields are written into it per robot) and one `MjData`, into which
    a robot's integration state is loaded before its `mj_step` and read back after. MuJoCo's automatic reset of
    diverging simulations is disabled, so a blown-up robot reports NaN as MJX does and the env restarts it alone.
    """

    name = "mujoco"

    def __init__(self, mj_model: mujoco.MjModel, substeps: int, threads: int):
        self.substeps = substeps
        self.threads = threads
        self.index = physics_lib.ModelIndex.from_model(mj_model)
        model = copy.deepcopy(mj_model)
        model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_AUTORESET
        self._models = [copy.deepcopy(model) for _ in range(threads)]
        self._datas = [mujoco.MjData(m) for m in self._models]
        # Every contact pair yields at most this many contacts (sphere/capsule pairs: 1-2); extra ones are dropped.
        self.max_contacts = 4 * max(1, model.npair)
        self._nq, self._nv, self._nu = model.nq, model.nv, model.nu
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="mujoco")

    def init(self, qpos: jax.Array, qvel: jax.Array, ctrl: jax.Array) -> MujocoState:
        return MujocoState(qpos=qpos, qvel=qvel, qacc_warmstart=jnp.zeros_like(qvel), ctrl=ctrl)

    def step(self, state: MujocoState, ctrl: jax.Array,
             model_fields: dict[str, jax.Array] | None) -> tuple[MujocoState, physics_lib.PhysicsState]:
        sites, contacts = len(self.index.sites), self.max_contacts
        f32 = jnp.float32
        shapes = (
            MujocoState(qpos=jax.ShapeDtypeStruct((self._nq,), f32), qvel=jax.ShapeDtypeStruct((self._nv,), f32),
                        qacc_warmstart=jax.ShapeDtypeStruct((self._nv,), f32),
                        ctrl=jax.ShapeDtypeStruct((self._nu,), f32)),
            physics_lib.SimulatorOutput(
                qpos=jax.ShapeDtypeStruct((self._nq,), f32), qvel=jax.ShapeDtypeStruct((self._nv,), f32),
                site_xpos=jax.ShapeDtypeStruct((sites, 3), f32), site_cvel=jax.ShapeDtypeStruct((sites, 6), f32),
                root_com=jax.ShapeDtypeStruct((3,), f32), actuator_force=jax.ShapeDtypeStruct((self._nu,), f32),
                contact_geom=jax.ShapeDtypeStruct((contacts, 2), jnp.int32),
                contact_force=jax.ShapeDtypeStruct((contacts,), f32),
                contact_dist=jax.ShapeDtypeStruct((contacts,), f32)))
        state, output = jax.pure_callback(self._host_step, shapes, state.replace(ctrl=ctrl), model_fields,
                                          vmap_method="broadcast_all")
        return state, physics_lib.derive(output, self.index)

    def close(self) -> None:
        self._pool.shutdown()

    # ------------------------------------------------------------------------------------------ on the host

    def _host_step(self, state: MujocoState, model_fields: dict[str, np.ndarray] | None):
        """The callback: any leading batch shape, flattened to robots and split over the workers."""
        batch_shape = np.shape(state.ctrl)[:-1]
        flat = lambda x: np.reshape(np.asarray(x), (-1,) + np.shape(x)[len(batch_shape):])  # noqa: E731
        state = jax.tree.map(flat, state)
        fields = None if model_fields is None else {k: flat(v) for k, v in model_fields.items()}
        num = state.ctrl.shape[0]
        out_state = MujocoState(qpos=np.empty((num, self._nq), np.float32),
                                qvel=np.empty((num, self._nv), np.float32),
                                qacc_warmstart=np.empty((num, self._nv), np.float32),
                                ctrl=np.asarray(state.ctrl, np.float32))
        sites, contacts = len(self.index.sites), self.max_contacts
        output = physics_lib.SimulatorOutput(
            qpos=out_state.qpos, qvel=out_state.qvel, site_xpos=np.empty((num, sites, 3), np.float32),
            site_cvel=np.empty((num, sites, 6), np.float32), root_com=np.empty((num, 3), np.float32),
            actuator_force=np.empty((num, self._nu), np.float32),
            contact_geom=np.full((num, contacts, 2), -1, np.int32), contact_force=np.zeros((num, contacts), np.float32),
            contact_dist=np.ones((num, contacts), np.float32))
        bounds = np.linspace(0, num, self.threads + 1).astype(int)
        jobs = [self._pool.submit(self._advance, worker, range(bounds[worker], bounds[worker + 1]), state, fields,
                                  out_state, output)
                for worker in range(self.threads) if bounds[worker] < bounds[worker + 1]]
        for job in jobs:
            job.result()
        unflat = lambda x: np.reshape(x, batch_shape + x.shape[1:])  # noqa: E731
        output = output.replace(qpos=out_state.qpos.copy(), qvel=out_state.qvel.copy())
        return jax.tree.map(unflat, out_state), jax.tree.map(unflat, output)

    def _advance(self, worker: int, robots: range, state: MujocoState, fields: dict[str, np.ndarray] | None,
                 out_state: MujocoState,
                 output: physics_lib.SimulatorOutput) -> None:
        model, data = self._models[worker], self._datas[worker]
        sites, bodies = self.index.sites, self.index.site_body[self.index.sites]
        for n in robots:
            if fields is not None:
                for name, value in fields.items():
                    getattr(model, name)[:] = value[n]
            data.qpos[:], data.qvel[:] = state.qpos[n], state.qvel[n]
            data.qacc_warmstart[:], data.ctrl[:] = state.qacc_warmstart[n], state.ctrl[n]
            mujoco.mj_step(model, data, nstep=self.substeps)
            out_state.qpos[n], out_state.qvel[n] = data.qpos, data.qvel
            out_state.qacc_warmstart[n] = data.qacc_warmstart
            output.site_xpos[n] = data.site_xpos[sites]
            output.site_cvel[n] = data.cvel[bodies]
            output.root_com[n] = data.subtree_com[1]
            output.actuator_force[n] = data.actuator_force
            _write_contacts(data, n, output)


def _write_contacts(data: mujoco.MjData, n: int, output: physics_lib.SimulatorOutput) -> None:
    """Robot n's active contacts (geoms, normal force, distance) into the padded output rows."""
    count = min(data.ncon, output.contact_geom.shape[1])
    if not count:
        return
    contact = data.contact
    address = contact.efc_address[:count]
    # Pyramidal cone, condim 3: the normal force is the sum of the four pyramid edge forces.
    edges = data.efc_force[np.maximum(address, 0)[:, None] + np.arange(4)].sum(axis=1)
    output.contact_geom[n, :count] = contact.geom[:count]
    output.contact_force[n, :count] = np.where(address >= 0, edges, 0.0)
    output.contact_dist[n, :count] = contact.dist[:count]


def mujoco_output(model: mujoco.MjModel, data: mujoco.MjData,
                  index: physics_lib.ModelIndex) -> physics_lib.SimulatorOutput:
    """What one C MuJoCo data reports (after mj_step or mj_forward), as the C MuJoCo back end reads it."""
    contacts = 4 * max(1, model.npair)
    output = physics_lib.SimulatorOutput(
        qpos=data.qpos[None].astype(np.float32), qvel=data.qvel[None].astype(np.float32),
        site_xpos=data.site_xpos[index.sites][None].astype(np.float32),
        site_cvel=data.cvel[index.site_body[index.sites]][None].astype(np.float32),
        root_com=data.subtree_com[1][None].astype(np.float32),
        actuator_force=data.actuator_force[None].astype(np.float32),
        contact_geom=np.full((1, contacts, 2), -1, np.int32), contact_force=np.zeros((1, contacts), np.float32),
        contact_dist=np.ones((1, contacts), np.float32))
    _write_contacts(data, 0, output)
    return jax.tree.map(lambda x: x[0], output)

