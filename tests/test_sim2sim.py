"""Sim-to-sim: the exported ONNX policy in plain C MuJoCo reproduces the JAX policy's C MuJoCo evaluation."""

import numpy as np
import onnx
import pytest

from genmimic_jax.envs import tracking as tracking_config
from genmimic_jax.eval import evaluate
from genmimic_jax.eval.rollout import Evaluator
from genmimic_jax.export import onnx_export, sim2sim
from genmimic_jax.robot.g1 import constants
from eval_helpers import random_policy, short_clips


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    env_config = tracking_config.default_config()
    env_config.actor_base_lin_vel = True  # the builder's every block (test_pipeline runs the default layout)
    env = evaluate.make_env(env_config, short_clips()[1:])
    policy = random_policy(env_config, env.observation_size["actor"], seed=2, action_gain=20.0)
    jax_run = Evaluator(env, policy.policy, "mujoco")()
    path = tmp_path_factory.mktemp("onnx") / "student.onnx"
    _, max_error = onnx_export.export_policy(policy, path, real_observations=jax_run.obs[0])
    return env, policy, jax_run, path, max_error


def test_export_parity_holds_on_real_observations(setup):
    _, policy, jax_run, path, max_error = setup
    assert max_error <= 1e-5
    onnx_policy = sim2sim.OnnxPolicy(path)
    actions = onnx_policy.actions(jax_run.obs[0])[:, constants.MUJOCO_TO_DDS]
    np.testing.assert_allclose(actions, jax_run.actions[0], atol=1e-5, rtol=0)
    assert np.abs(jax_run.actions[0]).max() > 0.05  # the check sees real-sized actions
    meta = onnx_policy.metadata
    assert meta["observation_size"] == policy.policy.obs_size == sum(b["size"] for b in meta["observation_layout"])
    assert meta["control_rate_hz"] == pytest.approx(50.0)
    assert meta["goal_offsets"] == list(tracking_config.default_config().goal_offsets)


def test_onnx_in_c_mujoco_follows_the_jax_evaluation(setup):
    env, _, jax_run, path, _ = setup
    lib = env.motion_lib
    length = int(lib.lengths[0])
    frames = lib.clip_frames(0)
    run = sim2sim.run(path, frames.qpos, frames.qvel, lib.clip_goals(0), env.config.substeps)
    assert run.qpos.shape == (length, constants.QPOS_SIZE)
    # The numpy observation builder equals the environment's observation function.
    np.testing.assert_allclose(run.obs[0], jax_run.obs[0, 0], atol=1e-5)
    np.testing.assert_allclose(run.obs[:5], jax_run.obs[0, :5], atol=1e-3)
    # DDS actions mapped back through the metadata drive the same robot: same trajectory up to float32 noise.
    np.testing.assert_allclose(run.keypoints, jax_run.keypoints[0, :length], atol=1e-3)
    result = sim2sim.compare(frames.keypoints, run.keypoints, jax_run.keypoints[0, :length],
                             lib.fps)
    assert result["summary"]["mean_divergence_mm"] < 1.0
    assert result["divergence"].shape == (length - 1,)


def test_privileged_policies_do_not_run_outside_training(setup, tmp_path):
    env, _, _, _, _ = setup
    config = tracking_config.default_config()
    teacher = random_policy(config, env.observation_size["privileged"], obs_key="privileged")
    path = tmp_path / "teacher.onnx"
    onnx_export.export_policy(teacher, path)
    assert onnx_export.read_metadata(onnx.load(str(path)))["observation"] == "privileged"
    with pytest.raises(sim2sim.Sim2SimError, match="privileged"):
        sim2sim.ActorObservation(onnx_export.read_metadata(onnx.load(str(path))))
