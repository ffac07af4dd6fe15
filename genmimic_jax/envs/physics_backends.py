"""The simulators a `TrackingEnv` can step: MJX (accelerators) or plain C MuJoCo (CPUs).

Both back ends have one interface:

- `init(qpos, qvel, ctrl)` -> one robot's simulator state (a pytree with `qpos` and `qvel`; vmap it for a batch);
- `step(sim_state, ctrl, model_fields)` -> (next simulator states, `PhysicsState`s) of a batch [N] of robots,
  holding the servo targets `ctrl` [N, 29] for `substeps` physics steps, with the robots' randomised model fields
  (`randomization.model_fields`, [N, ...]) or None.

The C MuJoCo back end runs the batch's physics in one host callback (`jax.pure_callback`) on a persistent thread
pool (`mj_step` releases the GIL). Its simulator state is the robot's whole integration state (qpos, qvel and the
constraint solver's warm start), so the callback is a pure function: training stays one jitted program,
checkpoints hold the physics exactly, and results do not depend on the number of threads. It runs one JAX device
per process: over a mesh of several processes (`rl.local_job`, or hosts) each process steps its own shard of the
robots; several devices in one process are refused (the runner traces under its device mesh, so the step sees it).
`resolve` is the one place that picks a back end.
"""

from __future__ import annotations

import concurrent.futures
import copy
import os
import queue
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
    count = resolve_threads(threads)
    how = (f"C MuJoCo on {count} thread{'s' if count > 1 else ''}" if chosen == "mujoco"
           else f"MJX on {jax.default_backend()}")
    why = f"auto: JAX's default device is {jax.default_backend()}" if name == "auto" else "as configured"
    return f"physics back end: {chosen} ({how}; {why})"


def resolve_threads(threads: int) -> int:
    """`threads`, or every core this process may run on when it is 0."""
    return int(threads) if threads > 0 else len(os.sched_getaffinity(0))


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
        return jax.vmap(self._step_one, in_axes=(0, 0, None if model_fields is None else 0))(data, ctrl, model_fields)

    def _step_one(self, data: mjx.Data, ctrl: jax.Array, model_fields: dict[str, jax.Array] | None):
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
        # One (model, data) workspace per worker thread; a job takes one for its robots and gives it back.
        self._workspaces = queue.SimpleQueue()
        for _ in range(threads):
            workspace = copy.deepcopy(model)
            self._workspaces.put((workspace, mujoco.MjData(workspace)))
        self.max_contacts = max_contacts(model)
        self._nq, self._nv, self._nu = model.nq, model.nv, model.nu
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="mujoco")

    def init(self, qpos: jax.Array, qvel: jax.Array, ctrl: jax.Array) -> MujocoState:
        return MujocoState(qpos=qpos, qvel=qvel, qacc_warmstart=jnp.zeros_like(qvel), ctrl=ctrl)

    def step(self, state: MujocoState, ctrl: jax.Array,
             model_fields: dict[str, jax.Array] | None) -> tuple[MujocoState, physics_lib.PhysicsState]:
        mesh = jax.sharding.get_abstract_mesh()
        callback = self._callback
        if not mesh.empty and mesh.size > 1:
            if jax.local_device_count() > 1:
                # XLA's CPU runtime deadlocks when several devices of one process wait in host callbacks at once.
                raise ValueError(f"env.physics='mujoco' runs one JAX device per process; this process has "
                                 f"{jax.local_device_count()}: train as local processes instead "
                                 "(--config.run.local_processes) or use env.physics='mjx'")
            # Each process steps its own shard of the robots (one device per process).
            rows = jax.sharding.PartitionSpec(mesh.axis_names)
            callback = jax.shard_map(callback, in_specs=(rows, rows), out_specs=rows)
        state, output = callback(state.replace(ctrl=ctrl), model_fields)
        return state, jax.vmap(physics_lib.derive, in_axes=(0, None))(output, self.index)

    def _callback(self, state: MujocoState, model_fields: dict[str, jax.Array] | None):
        """The host step of a batch [n] of robots."""
        num, sites, contacts = state.ctrl.shape[0], len(self.index.sites), self.max_contacts

        def shape(*dims, dtype=jnp.float32):
            return jax.ShapeDtypeStruct((num,) + dims, dtype)

        shapes = (
            MujocoState(qpos=shape(self._nq), qvel=shape(self._nv), qacc_warmstart=shape(self._nv),
                        ctrl=shape(self._nu)),
            physics_lib.SimulatorOutput(
                qpos=shape(self._nq), qvel=shape(self._nv), site_xpos=shape(sites, 3), site_cvel=shape(sites, 6),
                root_com=shape(3), actuator_force=shape(self._nu), contact_geom=shape(contacts, 2, dtype=jnp.int32),
                contact_force=shape(contacts), contact_dist=shape(contacts)))
        return jax.pure_callback(self._host_step, shapes, state, model_fields, vmap_method="sequential")

    def close(self) -> None:
        self._pool.shutdown()

    # ------------------------------------------------------------------------------------------ on the host

    def _host_step(self, state: MujocoState, fields: dict[str, np.ndarray] | None):
        """The callback: robots [n] split over the workers."""
        state, fields = jax.tree.map(np.asarray, (state, fields))  # the callback receives jax Arrays
        num = state.ctrl.shape[0]
        output = _empty_output(num, self._nq, self._nv, self._nu, len(self.index.sites), self.max_contacts)
        out_state = MujocoState(qpos=output.qpos, qvel=output.qvel,
                                qacc_warmstart=np.empty((num, self._nv), np.float32),
                                ctrl=np.asarray(state.ctrl, np.float32))
        bounds = np.linspace(0, num, self.threads + 1).astype(int)
        jobs = [self._pool.submit(self._advance, range(bounds[worker], bounds[worker + 1]), state, fields,
                                  out_state, output)
                for worker in range(self.threads) if bounds[worker] < bounds[worker + 1]]
        for job in jobs:
            job.result()
        return out_state, output.replace(qpos=out_state.qpos.copy(), qvel=out_state.qvel.copy())

    def _advance(self, robots: range, state: MujocoState, fields: dict[str, np.ndarray] | None,
                 out_state: MujocoState, output: physics_lib.SimulatorOutput) -> None:
        workspace = self._workspaces.get()
        try:
            self._advance_on(workspace, robots, state, fields, out_state, output)
        finally:
            self._workspaces.put(workspace)

    def _advance_on(self, workspace: tuple[mujoco.MjModel, mujoco.MjData], robots: range, state: MujocoState,
                    fields: dict[str, np.ndarray] | None, out_state: MujocoState,
                    output: physics_lib.SimulatorOutput) -> None:
        model, data = workspace
        for n in robots:
            if fields is not None:
                for name, value in fields.items():
                    getattr(model, name)[:] = value[n]
            data.qpos[:], data.qvel[:] = state.qpos[n], state.qvel[n]
            data.qacc_warmstart[:], data.ctrl[:] = state.qacc_warmstart[n], state.ctrl[n]
            mujoco.mj_step(model, data, nstep=self.substeps)
            out_state.qpos[n], out_state.qvel[n] = data.qpos, data.qvel
            out_state.qacc_warmstart[n] = data.qacc_warmstart
            _read_robot(data, self.index, n, output)


def max_contacts(model: mujoco.MjModel) -> int:
    """Contacts reported per robot: every contact pair yields at most 4 (sphere/capsule pairs: 1-2); extras are
    dropped."""
    return 4 * max(1, model.npair)


def _empty_output(num: int, nq: int, nv: int, nu: int, sites: int, contacts: int) -> physics_lib.SimulatorOutput:
    """Output rows for `num` robots, contacts padded with geom -1 and distance 1."""
    return physics_lib.SimulatorOutput(
        qpos=np.empty((num, nq), np.float32), qvel=np.empty((num, nv), np.float32),
        site_xpos=np.empty((num, sites, 3), np.float32), site_cvel=np.empty((num, sites, 6), np.float32),
        root_com=np.empty((num, 3), np.float32), actuator_force=np.empty((num, nu), np.float32),
        contact_geom=np.full((num, contacts, 2), -1, np.int32), contact_force=np.zeros((num, contacts), np.float32),
        contact_dist=np.ones((num, contacts), np.float32))


def _read_robot(data: mujoco.MjData, index: physics_lib.ModelIndex, n: int,
                output: physics_lib.SimulatorOutput) -> None:
    """Row n of `output` from one robot's data (qpos and qvel are the caller's)."""
    output.site_xpos[n] = data.site_xpos[index.sites]
    output.site_cvel[n] = data.cvel[index.site_body[index.sites]]
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
    output = _empty_output(1, model.nq, model.nv, model.nu, len(index.sites), max_contacts(model))
    output.qpos[0], output.qvel[0] = data.qpos, data.qvel
    _read_robot(data, index, 0, output)
    return jax.tree.map(lambda x: x[0], output)
