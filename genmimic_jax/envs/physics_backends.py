"""The simulators a `TrackingEnv` can step: MJX (accelerators) or plain C MuJoCo (CPUs).

Both back ends have one interface:

- `mj_model`: the compiled MuJoCo model it steps (the env reads its nominal parameters there);
- `init(qpos, qvel, ctrl)` -> one robot's simulator state (a pytree with `qpos` and `qvel`; vmap it for a batch);
- `step(sim_state, ctrl, model_fields)` -> (next simulator states, `PhysicsState`s) of a batch [N] of robots,
  holding the servo targets `ctrl` [N, 29] for `substeps` physics steps, with the robots' randomised model fields
  (`randomization.model_fields`, [N, ...]) or None.

The C MuJoCo back end runs the batch's physics in one host callback (`jax.pure_callback`) on a persistent thread
pool (`mj_step` releases the GIL; the rest of a robot's work is two state copies and one sensor row). Its simulator
state is the robot's whole integration state (qpos, qvel and the constraint solver's warm start), so the callback
is a pure function: training stays one jitted program, checkpoints hold the physics exactly, and results do not
depend on the number of threads. It runs one JAX device per process: over a mesh of several processes
(`rl.local_job`, or hosts) each process steps its own shard of the robots; several devices in one process are
refused (the runner traces under its device mesh, so the step sees it). `resolve` is the one place that picks a back
end.
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
from genmimic_jax.robot.g1 import constants

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


def make(name: str, mj_spec: mujoco.MjSpec, substeps: int, threads: int = 0) -> MjxBackend | MujocoBackend:
    """The back end `name` ('auto', 'mjx' or 'mujoco') for the model of `mj_spec`, stepping `substeps` times per
    control step."""
    if resolve(name) == "mjx":
        return MjxBackend(mj_spec, substeps)
    return MujocoBackend(mj_spec, substeps, resolve_threads(threads))


class MjxBackend:
    """MJX: the whole step traced into the caller's program."""

    name = "mjx"

    def __init__(self, mj_spec: mujoco.MjSpec, substeps: int):
        self.substeps = substeps
        self.mj_model = mj_spec.compile()
        self.model = mjx.put_model(self.mj_model)
        self.index = physics_lib.ModelIndex.from_model(self.mj_model)
        self._template = mjx.make_data(self.mj_model)

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


# What a robot's state vector holds (mj_getState / mj_setState), in MuJoCo's order of the components.
_STATE_SPEC = (mujoco.mjtState.mjSTATE_QPOS | mujoco.mjtState.mjSTATE_QVEL | mujoco.mjtState.mjSTATE_WARMSTART
               | mujoco.mjtState.mjSTATE_CTRL)
# Contact points reported per pair of robot geoms (a capsule or box pair makes at most 2-4).
_SELF_CONTACT_SLOTS = 4


class MujocoBackend:
    """C MuJoCo: every robot of the batch advanced by one host callback on `threads` worker threads.

    Each worker owns one `MjModel` (randomised fields are written into it per robot) and one `MjData`; a robot's
    integration state is loaded with one `mj_setState`, stepped, and read back with one `mj_getState`. What the env
    needs besides (site positions and velocities, the centre of mass, actuator and foot forces, self-contacts) is
    computed by MuJoCo sensors added to the model, so a robot costs three short calls under the GIL and the workers
    do not wait for each other. MuJoCo's automatic reset of diverging simulations is disabled, so a blown-up robot
    reports NaN as MJX does and the env restarts it alone.
    """

    name = "mujoco"

    def __init__(self, mj_spec: mujoco.MjSpec, substeps: int, threads: int):
        self.substeps = substeps
        self.threads = threads
        self.mj_model = model = _with_readout_sensors(mj_spec)
        self.index = physics_lib.ModelIndex.from_model(model)
        model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_AUTORESET
        # One (model, data) workspace per worker thread; a job takes one for its robots and gives it back.
        self._workspaces = queue.SimpleQueue()
        for _ in range(threads):
            workspace = copy.deepcopy(model)
            self._workspaces.put((workspace, mujoco.MjData(workspace)))
        self._nq, self._nv, self._nu = model.nq, model.nv, model.nu
        self._state_size = mujoco.mj_stateSize(model, _STATE_SPEC)
        if self._state_size != model.nq + 2 * model.nv + model.nu:
            raise ValueError(f"a robot's state vector holds {self._state_size} numbers, not qpos, qvel, warm start and "
                             "controls")
        self._sensor_size = model.nsensordata
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
        vector, sensors = callback(state.replace(ctrl=ctrl), model_fields)
        qpos, qvel, warmstart, ctrl = jnp.split(vector, np.cumsum([self._nq, self._nv, self._nv]), axis=-1)
        state = MujocoState(qpos=qpos, qvel=qvel, qacc_warmstart=warmstart, ctrl=ctrl)
        output = jax.vmap(self._decode)(qpos, qvel, sensors)
        return state, jax.vmap(physics_lib.derive, in_axes=(0, None))(output, self.index)

    def _decode(self, qpos: jax.Array, qvel: jax.Array, sensors: jax.Array) -> physics_lib.SimulatorOutput:
        """One robot's output from its sensor readings (laid out by `_with_readout_sensors`)."""
        num_sites = len(self.index.sites)
        site_xpos, site_vel, root_com, actuator_force, feet, pairs = jnp.split(
            sensors, np.cumsum([3 * num_sites, 3 * num_sites, 3, self._nu, 8]))
        feet = feet.reshape(2, 4)  # per foot: contacts found, net force on it (x, y, z)
        pairs = pairs.reshape(-1, _SELF_CONTACT_SLOTS, 2)  # per pair and slot: found, distance
        return physics_lib.SimulatorOutput(
            qpos=qpos, qvel=qvel, site_xpos=site_xpos.reshape(num_sites, 3), site_vel=site_vel.reshape(num_sites, 3),
            root_com=root_com, actuator_force=actuator_force, foot_force=feet[:, 3],
            self_contacts=jnp.sum((pairs[..., 0] > 0) & (pairs[..., 1] < 0)).astype(jnp.float32))

    def _callback(self, state: MujocoState, model_fields: dict[str, jax.Array] | None):
        """The host step of a batch [n] of robots: their state vectors and sensor readings after the step."""
        num = state.ctrl.shape[0]
        shapes = (jax.ShapeDtypeStruct((num, self._state_size), jnp.float32),
                  jax.ShapeDtypeStruct((num, self._sensor_size), jnp.float32))
        vector = jnp.concatenate([state.qpos, state.qvel, state.qacc_warmstart, state.ctrl], axis=-1)
        return jax.pure_callback(self._host_step, shapes, vector, model_fields, vmap_method="sequential")

    def close(self) -> None:
        self._pool.shutdown()

    # ------------------------------------------------------------------------------------------ on the host

    def _host_step(self, vector: np.ndarray, fields: dict[str, np.ndarray] | None):
        """The callback: robots [n] split over the workers."""
        vector = np.asarray(vector, np.float64)  # the callback receives jax Arrays
        fields = None if fields is None else {name: np.asarray(value) for name, value in fields.items()}
        num = vector.shape[0]
        out_vector = np.empty_like(vector)
        sensors = np.empty((num, self._sensor_size))
        bounds = np.linspace(0, num, self.threads + 1).astype(int)
        jobs = [self._pool.submit(self._advance, range(bounds[worker], bounds[worker + 1]), vector, fields,
                                  out_vector, sensors)
                for worker in range(self.threads) if bounds[worker] < bounds[worker + 1]]
        for job in jobs:
            job.result()
        return out_vector.astype(np.float32), sensors.astype(np.float32)

    def _advance(self, robots: range, vector: np.ndarray, fields: dict[str, np.ndarray] | None,
                 out_vector: np.ndarray, sensors: np.ndarray) -> None:
        model, data = workspace = self._workspaces.get()
        try:
            for n in robots:
                if fields is not None:
                    for name, value in fields.items():
                        getattr(model, name)[:] = value[n]
                mujoco.mj_setState(model, data, vector[n], _STATE_SPEC)
                mujoco.mj_step(model, data, nstep=self.substeps)
                mujoco.mj_getState(model, data, out_vector[n], _STATE_SPEC)
                sensors[n] = data.sensordata
        finally:
            self._workspaces.put(workspace)


def _with_readout_sensors(mj_spec: mujoco.MjSpec) -> mujoco.MjModel:
    """The model of `mj_spec` compiled with the sensors whose readings `MujocoBackend._decode` reads, in its order
    (sensors add no other objects, so every other id is the plain model's).

    Per site of `ModelIndex.sites` its position, then per site its world linear velocity; the root body's subtree
    centre of mass; every actuator's force; per foot (left, right) the contacts found and the net force of the floor
    on the foot's body; per pair of robot geoms `_SELF_CONTACT_SLOTS` slots of (found, distance).
    """
    spec = mj_spec.copy()
    kinds = mujoco.mjtSensor
    objects = mujoco.mjtObj

    def add(kind, objtype, objname, reftype=None, refname="", data_spec=None):
        sensor = spec.add_sensor(type=kind, objtype=objtype, objname=objname)
        if reftype is not None:
            sensor.reftype, sensor.refname = reftype, refname
        if data_spec is not None:  # contact sensors: (fields, reduction, slots)
            sensor.intprm[:3] = data_spec

    for kind in (kinds.mjSENS_FRAMEPOS, kinds.mjSENS_FRAMELINVEL):
        for site in constants.KEYPOINT_SITES + constants.FOOT_SITES:
            add(kind, objects.mjOBJ_SITE, site)
    add(kinds.mjSENS_SUBTREECOM, objects.mjOBJ_BODY, spec.worldbody.first_body().name)
    for actuator in spec.actuators:
        add(kinds.mjSENS_ACTUATORFRC, objects.mjOBJ_ACTUATOR, actuator.name)
    fields = mujoco.mjtConDataField
    found, force, dist = (1 << int(fields.mjCONDATA_FOUND), 1 << int(fields.mjCONDATA_FORCE),
                          1 << int(fields.mjCONDATA_DIST))
    net_force = 3  # the contact sensor's reduction "netforce": one slot, the summed force in the world frame
    floor = physics_lib.FLOOR_GEOM
    for foot in physics_lib.FOOT_CONTACT_GEOMS:
        add(kinds.mjSENS_CONTACT, objects.mjOBJ_GEOM, floor, objects.mjOBJ_BODY, spec.geom(foot[0]).parent.name,
            (found | force, net_force, 1))
    for pair in spec.pairs:
        if floor not in (pair.geomname1, pair.geomname2):
            add(kinds.mjSENS_CONTACT, objects.mjOBJ_GEOM, pair.geomname1, objects.mjOBJ_GEOM, pair.geomname2,
                (found | dist, 0, _SELF_CONTACT_SLOTS))
    return spec.compile()
