"""ONNX export: checker-clean, onnxruntime equals the JAX policy, metadata in DDS order, every trainable network."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from eval_helpers import random_policy
from genmimic_jax.export import onnx_export
from genmimic_jax.rl import env_factory, networks, normalization
from genmimic_jax.rl.policy import Policy, PolicyLoadError
from genmimic_jax.robot.g1 import constants

OBS_SIZE = 97
CLIP = 5.0


def _policy(obs_size: int = OBS_SIZE, hidden=(512, 256, 128), activation: str = "elu", seed: int = 0) -> Policy:
    """A learner-shaped actor with non-trivial normaliser statistics."""
    actor = networks.make_actor(hidden, constants.NUM_JOINTS, activation)
    rng = jax.random.PRNGKey(seed)
    params = actor.init(rng, jnp.zeros((1, obs_size)))["params"]
    # The policy head is initialised tiny; scale it up so the parity check sees real-sized actions.
    last = f"Dense_{len(hidden)}"
    params[last] = dict(params[last], kernel=params[last]["kernel"] * 100.0)
    stats = normalization.init({"actor": obs_size})
    samples = jax.random.normal(jax.random.PRNGKey(seed + 1), (256, obs_size)) * 3.0 + 1.5
    stats = normalization.update(stats, {"actor": samples})
    return Policy(actor_params=params, obs_mean=stats.mean["actor"], obs_std=stats.std["actor"], obs_key="actor",
                  obs_clip=CLIP, hidden_sizes=tuple(hidden), activation=activation)


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("activation", sorted(networks.ACTIVATIONS))
def test_onnxruntime_equals_jax_policy(activation, tmp_path):
    policy = _policy(activation=activation)
    jax_actions = jax.jit(policy.inference_fn())
    model = onnx_export.build_model(policy, onnx_export.robot_metadata())
    path = onnx_export.save(model, tmp_path / "policy.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["obs"]
    assert [o.name for o in session.get_outputs()] == ["actions"]
    # Random observations, including some far outside the normaliser's range (exercises the clip).
    obs = np.random.default_rng(0).normal(size=(64, OBS_SIZE)).astype(np.float32) * 4.0 + 1.5
    obs[:4] *= 100.0
    expected = np.asarray(jax_actions(jnp.asarray(obs)))
    (actions,) = session.run(None, {"obs": obs})
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(actions, expected[:, constants.DDS_TO_MUJOCO], atol=1e-5, rtol=0)
    # Back to MuJoCo order with the inverse permutation.
    np.testing.assert_allclose(actions[:, constants.MUJOCO_TO_DDS], expected, atol=1e-5, rtol=0)


def test_metadata_is_in_dds_order(tmp_path):
    extra = {"control_rate_hz": 50.0, "history_length": 3, "goal_offsets": [0, 5, 10]}
    model = onnx_export.build_model(_policy(obs_size=12, hidden=(16,)), dict(onnx_export.robot_metadata(), **extra))
    meta = onnx_export.read_metadata(onnx.load_from_string(model.SerializeToString()))
    assert meta["control_rate_hz"] == 50.0 and meta["goal_offsets"] == [0, 5, 10]
    assert meta["joint_names"] == list(constants.DDS_JOINT_NAMES)
    for dds_index, name in enumerate(meta["mujoco_joint_names"]):
        mujoco_index = constants.JOINT_INDEX[name]
        assert meta["default_joint_pos"][dds_index] == pytest.approx(constants.DEFAULT_POSE[mujoco_index])
        assert meta["kp"][dds_index] == pytest.approx(constants.KP[mujoco_index])
        assert meta["action_scale"][dds_index] == pytest.approx(constants.ACTION_SCALE[mujoco_index])
        # The DDS name and the MuJoCo name are the same joint.
        side = {"left": "L_", "right": "R_"}.get(name.split("_")[0], "")
        assert meta["joint_names"][dds_index].startswith(side)
        assert name.split("_")[-2].upper() in meta["joint_names"][dds_index]


def test_bad_policies_are_refused():
    policy = _policy(obs_size=12, hidden=(16,))
    with pytest.raises(ValueError, match="gelu"):
        networks.make_actor((16,), constants.NUM_JOINTS, "gelu")  # at config time, before training
    with pytest.raises(onnx_export.ExportError, match="activation"):
        onnx_export.build_model(policy.replace(activation="gelu"))
    with pytest.raises(onnx_export.ExportError, match="normaliser"):
        onnx_export.build_model(policy.replace(obs_mean=np.zeros(11), obs_std=np.ones(11)))
    with pytest.raises(onnx_export.ExportError, match="Dense"):
        onnx_export.build_model(policy.replace(actor_params={"conv": {}}))


def test_a_policy_of_another_observation_layout_is_not_exported(tmp_path):
    env_config = env_factory.default_env_config("g1_tracking")
    obs_size = onnx_export.observation_layout(env_config, "privileged").size
    old = random_policy(env_config, obs_size - 58, "privileged", hidden=(16,))
    with pytest.raises(PolicyLoadError, match=r"reads a \d+-number 'privileged' observation.*older observation layout"):
        onnx_export.export_policy(old, tmp_path / "old.onnx")
    assert not (tmp_path / "old.onnx").exists()


@pytest.mark.parametrize("obs_key", ["privileged", "actor"])  # a teacher's and a student's observation
def test_every_trainable_network_exports_with_parity(obs_key, tmp_path):
    """Every activation the learners accept, at two network sizes, exports from a run's policy (export_policy's
    own parity check against the JAX policy, tolerance 1e-5), and reads back with the JAX policy's actions."""
    env_config = env_factory.default_env_config("g1_tracking")
    obs_size = onnx_export.observation_layout(env_config, obs_key).size
    obs = np.random.default_rng(0).normal(size=(32, obs_size)).astype(np.float32) * 3.0
    for activation in networks.ACTIVATIONS:
        for hidden in [(16,), (64, 32, 16)]:
            saved = random_policy(env_config, obs_size, obs_key, action_gain=50.0, hidden=hidden,
                                  activation=activation)
            path = tmp_path / f"{activation}_{len(hidden)}.onnx"
            _, max_error = onnx_export.export_policy(saved, path)
            (actions,) = _session(onnx.load(str(path))).run(None, {"obs": obs})
            expected = np.asarray(saved.policy.inference_fn()(obs))[:, constants.DDS_TO_MUJOCO]
            assert max_error <= 1e-5 and np.abs(expected).max() > 0.1, (activation, hidden)
            np.testing.assert_allclose(actions, expected, atol=1e-5, rtol=0, err_msg=f"{activation} {hidden}")
