"""The two physics back ends of the tracking env: C MuJoCo (host callback) and MJX agree, and C MuJoCo is exact."""

import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from genmimic_jax.envs import physics as physics_lib
from genmimic_jax.envs import physics_backends, randomization
from genmimic_jax.envs.synthetic_motion import synthetic_motion
from genmimic_jax.rl import policy
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

SUBSTEPS = 4
NUM_ROBOTS = 3
STEPS = 10


@pytest.fixture(scope="module")
def start():
    """Three robots on frames of the built-in clip, and random servo targets for STEPS control steps."""
    clip = synthetic_motion(fps=50.0)
    frames = np.array([0, 30, 90])
    qpos = np.asarray(clip.qpos[frames], np.float32)
    qvel = np.zeros((NUM_ROBOTS, constants.QVEL_SIZE), np.float32)
    rng = np.random.default_rng(0)
    actions = rng.normal(size=(STEPS, NUM_ROBOTS, constants.NUM_JOINTS))
    ctrl = (qpos[None, :, 7:] + 0.5 * constants.ACTION_SCALE * actions).astype(np.float32)
    return qpos, qvel, ctrl


def _rollout(backend, qpos, qvel, ctrl, fields=None):
    """jit(scan) of the back end's batched step; returns the physical states [STEPS, N, ...]."""
    @jax.jit
    def run(qpos, qvel, ctrl, fields):
        state = jax.vmap(backend.init)(qpos, qvel, ctrl[0])
        return jax.lax.scan(lambda s, c: backend.step(s, c, fields), state, ctrl)

    return run(qpos, qvel, ctrl, fields)


def _fields(torso_mass_scale: float):
    """Per-robot model fields of the nominal robot, robot 0's torso `torso_mass_scale` times heavier."""
    mj_model = g1_model.load_model()
    nominal = randomization.Nominal.from_model(mj_model)
    params = randomization.nominal_params(nominal)
    torso = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, "torso_link") - 1
    batch = jax.tree.map(lambda x: jnp.stack([x] * NUM_ROBOTS), params)
    batch = batch.replace(mass_scale=batch.mass_scale.at[0, torso].set(torso_mass_scale))
    return jax.vmap(randomization.model_fields, in_axes=(None, 0))(nominal, batch)


def test_mujoco_back_end_equals_one_continuous_simulation(start):
    """Loading each robot's state into a worker's MjData per step loses nothing (warm start included)."""
    qpos, qvel, ctrl = start
    mj_model = g1_model.load_model()
    backend = physics_backends.MujocoBackend(g1_model.load_spec(), SUBSTEPS, threads=2)
    _, physics = _rollout(backend, qpos, qvel, ctrl)
    index = physics_lib.ModelIndex.from_model(mj_model)
    for n in range(NUM_ROBOTS):
        data = mujoco.MjData(mj_model)
        data.qpos[:], data.qvel[:] = qpos[n], qvel[n]
        for t in range(STEPS):
            data.ctrl[:] = ctrl[t, n]
            mujoco.mj_step(mj_model, data, nstep=SUBSTEPS)
            # The back end keeps its state in float32 between control steps: agreement to float32 rounding.
            np.testing.assert_allclose(np.asarray(physics.qpos[t, n]), data.qpos, atol=2e-5)
            np.testing.assert_allclose(np.asarray(physics.keypoints[t, n]),
                                       data.site_xpos[index.keypoint_sites], atol=2e-5)
        expected = physics_lib.derive(physics_lib.mujoco_output(data, index), index)
        for field in ("keypoint_vel", "feet", "feet_vel", "foot_force", "actuator_force", "self_contacts"):
            np.testing.assert_allclose(np.asarray(getattr(physics, field)[-1, n]), np.asarray(getattr(expected, field)),
                                       rtol=1e-3, atol=1e-3, err_msg=field)


def test_sensor_readings_equal_mujocos_own_arrays_where_robots_touch_the_floor_and_themselves():
    """The back end reads sites, velocities, forces and contacts from sensors; they equal what MuJoCo's own arrays
    give (`mujoco_output`) one control step after poses with random joints, feet on the floor and limbs crossed."""
    mj_model = g1_model.load_model()
    index = physics_lib.ModelIndex.from_model(mj_model)
    rng = np.random.default_rng(0)
    num = 48
    qpos = np.tile(g1_model.default_qpos(), (num, 1))
    low, high = mj_model.jnt_range[1:].T
    qpos[:, 7:] = np.clip(qpos[:, 7:] + rng.normal(0.0, 0.6, (num, constants.NUM_JOINTS)), low, high)
    qpos[:, 2] -= rng.uniform(0.0, 0.05, num)
    qvel = rng.normal(0.0, 0.5, (num, constants.QVEL_SIZE))
    ctrl = qpos[None, :, 7:] + 0.3 * rng.normal(size=(1, num, constants.NUM_JOINTS))
    qpos, qvel, ctrl = (x.astype(np.float32) for x in (qpos, qvel, ctrl))
    _, physics = _rollout(physics_backends.MujocoBackend(g1_model.load_spec(), SUBSTEPS, threads=2), qpos, qvel, ctrl)
    expected = []
    for n in range(num):
        data = mujoco.MjData(mj_model)
        data.qpos[:], data.qvel[:], data.ctrl[:] = qpos[n], qvel[n], ctrl[0, n]
        mujoco.mj_step(mj_model, data, nstep=SUBSTEPS)
        expected.append(physics_lib.derive(physics_lib.mujoco_output(data, index), index))
    expected = jax.tree.map(lambda *rows: np.stack(rows), *expected)
    assert (expected.self_contacts > 0).sum() >= 3 and (expected.foot_force > 1.0).all(axis=1).sum() >= 3
    for field in ("keypoints", "keypoint_vel", "com", "feet", "feet_vel", "foot_force", "actuator_force",
                  "self_contacts"):
        np.testing.assert_allclose(np.asarray(getattr(physics, field)[0]), getattr(expected, field), rtol=1e-4,
                                   atol=2e-4, err_msg=field)


def test_mujoco_back_end_is_deterministic_and_thread_independent(start):
    qpos, qvel, ctrl = start
    runs = [_rollout(physics_backends.MujocoBackend(g1_model.load_spec(), SUBSTEPS, threads), qpos, qvel, ctrl)
            for threads in (1, 2, 2)]
    for other in runs[1:]:
        for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(other)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_mujoco_back_end_reports_a_blown_up_robot_as_nan(start):
    qpos, qvel, ctrl = start
    backend = physics_backends.MujocoBackend(g1_model.load_spec(), SUBSTEPS, threads=2)
    qvel = qvel.copy()
    qvel[1] = np.nan
    _, physics = _rollout(backend, qpos, qvel, ctrl[:1])
    finite = np.asarray(physics_lib.is_finite(physics))[0]
    np.testing.assert_array_equal(finite, [True, False, True])


def test_back_ends_agree_and_randomised_parameters_reach_both(start):
    """Same start and servo targets: keypoints within 1 mm over 10 control steps; a heavier torso sinks the robot
    the same on both (the randomised model fields reach both simulators)."""
    qpos, qvel, ctrl = start
    backends = (physics_backends.MjxBackend(g1_model.load_spec(), SUBSTEPS),
                physics_backends.MujocoBackend(g1_model.load_spec(), SUBSTEPS, threads=2))
    # One rollout per back end (one MJX compilation): robots 0-2 nominal, robots 3-5 the same with robot 3 heavier.
    fields = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), _fields(1.0), _fields(2.0))
    twice = [np.concatenate([x, x], axis=x.ndim - 2) for x in (qpos, qvel, ctrl)]
    mjx_run, mujoco_run = [_rollout(backend, *twice, fields)[1] for backend in backends]
    (mjx_nominal, mjx_heavy), (mujoco_nominal, mujoco_heavy) = [
        [jax.tree.map(lambda x, half=half: x[:, half], run) for half in (slice(0, NUM_ROBOTS), slice(NUM_ROBOTS, None))]
        for run in (mjx_run, mujoco_run)]
    error = np.linalg.norm(np.asarray(mjx_nominal.keypoints - mujoco_nominal.keypoints), axis=-1)
    assert error.max() < 1e-3, error.max(axis=(0, 2))
    # Root height change caused by the heavier torso, per step and robot [STEPS, N].
    mjx_sink = np.asarray(mjx_heavy.qpos[..., 2] - mjx_nominal.qpos[..., 2])
    mujoco_sink = np.asarray(mujoco_heavy.qpos[..., 2] - mujoco_nominal.qpos[..., 2])
    assert mujoco_sink[:, 0].min() < -1e-3 and np.all(np.abs(mujoco_sink[:, 1:]) < 1e-6)  # only robot 0 is heavier
    assert np.abs(mjx_sink - mujoco_sink).max() < 0.25 * np.abs(mujoco_sink).max(), (mjx_sink[:, 0], mujoco_sink[:, 0])


def _train(runs_dir, *flags, xla_flags=""):
    """experiments.train of the CPU recipe on the built-in clip, tiny (4 envs, two updates of 4 steps)."""
    env = dict(os.environ, XLA_FLAGS=xla_flags, JAX_PLATFORMS="cpu")
    return subprocess.run(
        [sys.executable, "-m", "experiments.train", "--config=configs/train.py:g1_cpu", f"--config.runs_dir={runs_dir}",
         "--config.env.num_envs=4", "--config.ppo.rollout_length=4", "--config.ppo.num_updates=2",
         "--config.run.updates_per_chunk=2", "--config.env.physics=mujoco", *flags],
        cwd=pathlib.Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=600)


def test_several_devices_in_one_process_are_refused_in_one_line(tmp_path):
    """C MuJoCo runs one JAX device per process: a two-device process stops before compiling, with one line."""
    result = _train(tmp_path, "--config.run.local_processes=1", xla_flags="--xla_force_host_platform_device_count=2")
    assert result.returncode == 1, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "env.physics='mujoco'" in last and "local_processes" in last
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_two_local_processes_train_as_one_process_does(tmp_path):
    """`run.local_processes=2` trains data-parallel in two processes (one device, one core each) and reaches the
    parameters of the same run in one process: the envs' physics and the averaged gradients are the same.

    Slow (two minutes on a 2-core CI machine: three processes compile the G1 training program); the default suite
    keeps the same data-parallel equality through `jax.distributed` (tests/test_multihost.py) and the local job's
    launcher (tests/test_local_job.py)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    params = {}
    for processes in (1, 2):
        result = _train(tmp_path / str(processes), f"--config.run.local_processes={processes}")
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        assert f"4 envs over {processes} device(s) in {processes} process(es)" in result.stdout
        saved = policy.load_policy(tmp_path / str(processes) / "teacher")
        params[processes] = jax.tree.leaves((saved.policy.actor_params, saved.policy.obs_mean))
    assert "training as 2 local processes (1 core each" in result.stdout
    for one, two in zip(params[1], params[2]):
        np.testing.assert_allclose(np.asarray(one), np.asarray(two), rtol=1e-4, atol=1e-5)
