"""ONNX export of an MLP policy with its observation normalisation folded in.

The graph is built directly with `onnx.helper` (MatMul + Add + activation per layer): the policy is a plain MLP,
so no tracer or TensorFlow is needed and the graph is the same computation as the JAX one
(`rl.policy.make_inference_fn`), op for op; every activation of `rl.networks.ACTIVATIONS` exports:

    obs -> clip((obs - mean) / std, -c, c) -> [Dense, act]* -> Dense -> Gather(DDS order) -> actions

The single input `obs` [batch, D] is the raw (unnormalised) observation in the environment's layout, joints in
MuJoCo order; the output `actions` [batch, 29] is in Unitree DDS motor order. The joint position target of motor i
is `default_joint_pos[i] + action_scale[i] * actions[i]` with the metadata's (DDS-ordered) arrays.
"""

import json
import os
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from genmimic_jax import files
from genmimic_jax.envs import observations, randomization
from genmimic_jax.errors import InputError
from genmimic_jax.rl.networks import ACTIVATIONS
from genmimic_jax.rl.policy import Policy, SavedPolicy, check_observation
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

OPSET = 17
INPUT_NAME = "obs"
OUTPUT_NAME = "actions"


class ExportError(InputError):
    """A policy that cannot be exported; the message names the problem."""


def dense_layers(actor_params: Mapping[str, Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (kernel [in, out], bias [out]) pairs of a flax MLP's `Dense_i` layers, in order."""
    names = [name for name in actor_params if re.fullmatch(r"Dense_\d+", name)]
    if not names or len(names) != len(actor_params):
        raise ExportError(f"actor params must be flax Dense_0..Dense_n layers, got keys {sorted(actor_params)}")
    names.sort(key=lambda name: int(name.split("_")[1]))
    layers = [(np.asarray(actor_params[n]["kernel"], np.float32), np.asarray(actor_params[n]["bias"], np.float32))
              for n in names]
    for (kernel, _), (next_kernel, _) in zip(layers, layers[1:]):
        if kernel.shape[1] != next_kernel.shape[0]:
            raise ExportError(f"layer widths do not chain: {kernel.shape} then {next_kernel.shape}")
    return layers


def build_model(policy: Policy, metadata: Mapping[str, Any] | None = None) -> onnx.ModelProto:
    """The policy as an ONNX model (checked with `onnx.checker`).

    Args:
      policy: the policy; its actor outputs the action in MuJoCo joint order.
      metadata: stored as JSON strings in the model's metadata_props.
    """
    if policy.activation not in ACTIVATIONS:
        raise ExportError(f"activation {policy.activation!r} is not one of {sorted(ACTIVATIONS)}")
    activation = ACTIVATIONS[policy.activation]
    layers = dense_layers(policy.actor_params)
    obs_size, action_size = layers[0][0].shape[0], layers[-1][0].shape[1]
    obs_mean, obs_std = np.asarray(policy.obs_mean, np.float32), np.asarray(policy.obs_std, np.float32)
    if obs_mean.shape != (obs_size,) or obs_std.shape != (obs_size,):
        raise ExportError(f"normaliser shapes {obs_mean.shape}, {obs_std.shape} do not match the actor input {obs_size}")
    if action_size != constants.NUM_JOINTS:
        raise ExportError(f"the actor outputs {action_size} actions, the G1 has {constants.NUM_JOINTS} joints")

    initializers = [
        numpy_helper.from_array(obs_mean, "obs_mean"),
        numpy_helper.from_array(obs_std, "obs_std"),
        numpy_helper.from_array(np.float32(-policy.obs_clip), "clip_min"),
        numpy_helper.from_array(np.float32(policy.obs_clip), "clip_max"),
        numpy_helper.from_array(constants.DDS_TO_MUJOCO.astype(np.int64), "dds_to_mujoco"),
    ]
    nodes = [
        helper.make_node("Sub", [INPUT_NAME, "obs_mean"], ["obs_centered"]),
        helper.make_node("Div", ["obs_centered", "obs_std"], ["obs_scaled"]),
        helper.make_node("Clip", ["obs_scaled", "clip_min", "clip_max"], ["h0"]),
    ]
    hidden = "h0"
    for i, (kernel, bias) in enumerate(layers):
        initializers += [numpy_helper.from_array(kernel, f"kernel_{i}"), numpy_helper.from_array(bias, f"bias_{i}")]
        nodes += [helper.make_node("MatMul", [hidden, f"kernel_{i}"], [f"matmul_{i}"]),
                  helper.make_node("Add", [f"matmul_{i}", f"bias_{i}"], [f"dense_{i}"])]
        hidden = f"dense_{i}"
        if i < len(layers) - 1:
            if activation.gated:
                nodes += [helper.make_node(activation.onnx_op, [hidden], [f"gate_{i}"]),
                          helper.make_node("Mul", [hidden, f"gate_{i}"], [f"h{i + 1}"])]
            else:
                nodes.append(helper.make_node(activation.onnx_op, [hidden], [f"h{i + 1}"]))
            hidden = f"h{i + 1}"
    nodes.append(helper.make_node("Gather", [hidden, "dds_to_mujoco"], [OUTPUT_NAME], axis=1))

    graph = helper.make_graph(
        nodes, "genmimic_policy",
        inputs=[helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", obs_size])],
        outputs=[helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", action_size])],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="genmimic_jax")
    model.ir_version = 8  # readable by onnxruntime releases of the last years
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(model, full_check=True)
    return model


def robot_metadata() -> dict[str, Any]:
    """The G1 facts a deployment needs, joint-indexed arrays in DDS motor order."""
    dds = constants.DDS_TO_MUJOCO
    return {
        "joint_names": list(constants.DDS_JOINT_NAMES),
        "mujoco_joint_names": [constants.JOINT_NAMES[j] for j in dds],
        "default_joint_pos": constants.DEFAULT_POSE[dds].tolist(),
        "kp": constants.KP[dds].tolist(),
        "kd": constants.KD[dds].tolist(),
        "action_scale": constants.ACTION_SCALE[dds].tolist(),
        "torque_limits": constants.TORQUE_LIMITS[dds].tolist(),
        "dds_to_mujoco": dds.tolist(),
        "mujoco_to_dds": constants.MUJOCO_TO_DDS.tolist(),
        "keypoint_names": list(constants.KEYPOINT_NAMES),
        "action_order": "dds",
        "observation_joint_order": "mujoco",
        "action_to_target": "target[i] = default_joint_pos[i] + action_scale[i] * actions[i] (DDS order)",
    }


def observation_layout(env_config: Mapping[str, Any], obs_key: str) -> observations.ObsLayout:
    """The block layout of observation `obs_key` ('actor' or 'privileged') of an environment config."""
    num_goal_frames = len(env_config["goal_offsets"])
    if obs_key == "actor":
        return observations.actor_layout(int(env_config["history_length"]), num_goal_frames,
                                         bool(env_config.get("actor_base_lin_vel", False)))
    if obs_key == "privileged":
        nominal = randomization.Nominal.from_model(g1_model.load_model(scene=True))
        return observations.privileged_layout(num_goal_frames, randomization.mirror_map(nominal))
    raise ExportError(f"unknown observation {obs_key!r}; expected 'actor' or 'privileged'")


def policy_metadata(saved: SavedPolicy) -> dict[str, Any]:
    """Robot facts (`robot_metadata`) plus what the policy reads: observation layout, rates, history, goals."""
    env_config, policy = saved.run_config.get("env"), saved.policy
    if not env_config:
        raise ExportError(f"{saved.run_dir}: the run config has no 'env' block to take the observation layout from")
    layout = observation_layout(env_config, policy.obs_key)
    check_observation(policy, {policy.obs_key: layout.size}, saved.run_dir)
    ctrl_dt = float(env_config["ctrl_dt"])
    action_offset = env_config.get("action_offset", "default_pose")  # runs before the option: the default pose
    offset_text = ("the reference motion's joint positions at the frame the step reaches" if action_offset == "reference"
                   else "default_joint_pos")
    return dict(
        robot_metadata(),
        action_offset=action_offset,
        action_to_target=f"target[i] = offset[i] + action_scale[i] * actions[i] (DDS order), offset = {offset_text}",
        policy_kind=saved.kind,
        observation=policy.obs_key,
        observation_size=layout.size,
        observation_layout=layout.as_metadata(),
        proprio_layout=observations.proprio_layout().as_metadata(),
        control_rate_hz=1.0 / ctrl_dt,
        history_length=int(env_config["history_length"]),
        goal_offsets=[int(o) for o in env_config["goal_offsets"]],
        goal_offsets_s=[int(o) * ctrl_dt for o in env_config["goal_offsets"]],
        goal_keypoints_frame="world keypoints minus the root position, rotated into the root's heading (yaw) frame",
        observation_normalization="folded in: the input is the raw observation",
        checkpoint_step=saved.step,
    )


def export_policy(saved: SavedPolicy, path: str | os.PathLike, parity_samples: int = 256, tolerance: float = 1e-5,
                  seed: int = 0, real_observations: np.ndarray | None = None,
                  overwrite: bool = False) -> tuple[onnx.ModelProto, float]:
    """Exports the policy to `path` after checking onnxruntime against JAX (`path` is checked first, see `save`).

    The check feeds observations drawn around the normaliser's statistics (mean + 2 std * N(0, 1)) and any
    `real_observations` [M, D] given, and compares with the JAX policy's actions.

    Returns:
      The model and the largest absolute action difference seen.

    Raises:
      ExportError: the policy cannot be exported or the difference exceeds `tolerance`.
    """
    files.check_output(path, "onnx", inputs=[saved.run_dir / "config.json"], overwrite=overwrite)
    policy = saved.policy
    if policy.action_size != constants.NUM_JOINTS:
        raise ExportError(f"{saved.run_dir}: the policy has {policy.action_size} actions, the G1 {constants.NUM_JOINTS}")
    model = build_model(policy, policy_metadata(saved))
    rng = np.random.default_rng(seed)
    obs = policy.obs_mean + 2.0 * policy.obs_std * rng.normal(size=(parity_samples, policy.obs_size))
    if real_observations is not None:
        obs = np.concatenate([obs, np.asarray(real_observations).reshape(-1, policy.obs_size)])
    obs = obs.astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (actions,) = session.run([OUTPUT_NAME], {INPUT_NAME: obs})
    expected = np.asarray(policy.inference_fn()(obs))[:, constants.DDS_TO_MUJOCO]
    max_error = float(np.max(np.abs(actions - expected)))
    if not max_error <= tolerance:
        raise ExportError(f"onnxruntime differs from the JAX policy by {max_error:.3g} (> {tolerance:g})")
    save(model, path, overwrite)
    return model, max_error


def read_metadata(model: onnx.ModelProto) -> dict[str, Any]:
    """The metadata stored by `build_model`, decoded."""
    return {entry.key: json.loads(entry.value) for entry in model.metadata_props}


def save(model: onnx.ModelProto, path: str | os.PathLike, overwrite: bool = False) -> pathlib.Path:
    """Writes the model with `files.write_atomic` (`overwrite`: may replace a file of another kind)."""
    data = model.SerializeToString()
    return files.write_atomic(path, lambda file: file.write(data), "onnx", overwrite=overwrite)
