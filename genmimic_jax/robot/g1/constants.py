"""Unitree G1 (29 DoF) constants: joint order, DDS motor order, default pose, gains, keypoints, mirror maps.

Every other module takes its robot facts from here. Joint-indexed arrays are in MuJoCo order (`JOINT_NAMES`).
"""

import numpy as np

ROOT_BODY = "pelvis"
NUM_JOINTS = 29
QPOS_SIZE = 7 + NUM_JOINTS
QVEL_SIZE = 6 + NUM_JOINTS

JOINT_NAMES: tuple[str, ...] = (
    "left_hip_pitch_joint",
    "left_hip_roll_joint",
    "left_hip_yaw_joint",
    "left_knee_joint",
    "left_ankle_pitch_joint",
    "left_ankle_roll_joint",
    "right_hip_pitch_joint",
    "right_hip_roll_joint",
    "right_hip_yaw_joint",
    "right_knee_joint",
    "right_ankle_pitch_joint",
    "right_ankle_roll_joint",
    "waist_yaw_joint",
    "waist_roll_joint",
    "waist_pitch_joint",
    "left_shoulder_pitch_joint",
    "left_shoulder_roll_joint",
    "left_shoulder_yaw_joint",
    "left_elbow_joint",
    "left_wrist_roll_joint",
    "left_wrist_pitch_joint",
    "left_wrist_yaw_joint",
    "right_shoulder_pitch_joint",
    "right_shoulder_roll_joint",
    "right_shoulder_yaw_joint",
    "right_elbow_joint",
    "right_wrist_roll_joint",
    "right_wrist_pitch_joint",
    "right_wrist_yaw_joint",
)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

# Unitree DDS motor order (LowCmd_.motor_cmd / LowState_.motor_state, 29-DoF G1, mode 0 names).
DDS_JOINT_NAMES: tuple[str, ...] = (
    "L_LEG_HIP_PITCH", "L_LEG_HIP_ROLL", "L_LEG_HIP_YAW", "L_LEG_KNEE", "L_LEG_ANKLE_PITCH", "L_LEG_ANKLE_ROLL",
    "R_LEG_HIP_PITCH", "R_LEG_HIP_ROLL", "R_LEG_HIP_YAW", "R_LEG_KNEE", "R_LEG_ANKLE_PITCH", "R_LEG_ANKLE_ROLL",
    "WAIST_YAW", "WAIST_ROLL", "WAIST_PITCH",
    "L_SHOULDER_PITCH", "L_SHOULDER_ROLL", "L_SHOULDER_YAW", "L_ELBOW", "L_WRIST_ROLL", "L_WRIST_PITCH", "L_WRIST_YAW",
    "R_SHOULDER_PITCH", "R_SHOULDER_ROLL", "R_SHOULDER_YAW", "R_ELBOW", "R_WRIST_ROLL", "R_WRIST_PITCH", "R_WRIST_YAW",
)


def _dds_name(joint_name: str) -> str:
    name = joint_name.removesuffix("_joint")
    for side, prefix in (("left_", "L_"), ("right_", "R_")):
        if name.startswith(side):
            rest = name[len(side):]
            if rest.startswith(("hip", "knee", "ankle")):
                rest = "leg_" + rest
            return (prefix + rest).upper()
    return name.upper()


# DDS_TO_MUJOCO[i] is the MuJoCo joint index of DDS motor i: q_dds = q_mujoco[DDS_TO_MUJOCO].
DDS_TO_MUJOCO = np.array([[_dds_name(j) for j in JOINT_NAMES].index(d) for d in DDS_JOINT_NAMES])
# MUJOCO_TO_DDS[j] is the DDS motor index of MuJoCo joint j: q_mujoco = q_dds[MUJOCO_TO_DDS].
MUJOCO_TO_DDS = np.argsort(DDS_TO_MUJOCO)


def _per_joint(values: dict[str, float], default: float = 0.0) -> np.ndarray:
    """An array over JOINT_NAMES from {substring: value}; the first matching key wins."""
    out = np.full(NUM_JOINTS, default, dtype=np.float32)
    for i, joint in enumerate(JOINT_NAMES):
        for key, value in values.items():
            if key in joint:
                out[i] = value
                break
    return out


JOINT_LIMITS = np.array(
    [
        [-2.5307, 2.8798], [-0.5236, 2.9671], [-2.7576, 2.7576], [-0.087267, 2.8798], [-0.87267, 0.5236],
        [-0.2618, 0.2618],
        [-2.5307, 2.8798], [-2.9671, 0.5236], [-2.7576, 2.7576], [-0.087267, 2.8798], [-0.87267, 0.5236],
        [-0.2618, 0.2618],
        [-2.618, 2.618], [-0.52, 0.52], [-0.52, 0.52],
        [-3.0892, 2.6704], [-1.5882, 2.2515], [-2.618, 2.618], [-1.0472, 2.0944], [-1.97222, 1.97222],
        [-1.61443, 1.61443], [-1.61443, 1.61443],
        [-3.0892, 2.6704], [-2.2515, 1.5882], [-2.618, 2.618], [-1.0472, 2.0944], [-1.97222, 1.97222],
        [-1.61443, 1.61443], [-1.61443, 1.61443],
    ],
    dtype=np.float32,
)

TORQUE_LIMITS = _per_joint(
    {"hip": 88.0, "knee": 139.0, "ankle": 50.0, "waist_yaw": 88.0, "waist": 50.0, "wrist_roll": 25.0,
     "wrist": 5.0, "shoulder": 25.0, "elbow": 25.0}
)
# PD gains of the position actuators (the same figures as the classes in g1.xml; a test keeps them equal). The legs
# are stiffer than Unitree's deployment gains (hip 100, knee 150, ankle 40) because with those the G1, like Unitree's
# own model, topples from its default pose under PD alone: two ankles at 40 N m/rad cannot hold a 35 kg inverted
# pendulum (m g l ~ 250 N m/rad).
KP = _per_joint({"hip": 200.0, "knee": 300.0, "ankle": 300.0, "waist": 200.0, "wrist_pitch": 20.0,
                 "wrist_yaw": 20.0, "shoulder": 40.0, "elbow": 40.0, "wrist_roll": 40.0})
KD = _per_joint({"hip": 4.0, "knee": 6.0, "ankle": 6.0, "waist": 5.0, "wrist_pitch": 0.5,
                 "wrist_yaw": 0.5, "shoulder": 1.0, "elbow": 1.0, "wrist_roll": 1.0})
# Policy action a maps to the joint target DEFAULT_POSE + ACTION_SCALE * a (radians per unit action). One unit of
# action asks for a quarter of the joint's torque limit through its PD gain (BeyondMimic's rule), so unit-std
# exploration noise is equally strong on every joint: a uniform 0.5 rad at std 0.37 asked the ankles (kp 300) for
# 55 N m of noise against a 50 N m limit, and the G1 toppled within a second.
ACTION_SCALE = (0.25 * TORQUE_LIMITS / KP).astype(np.float32)

# Slightly crouched standing pose; DEFAULT_ROOT_HEIGHT puts the soles on the floor.
DEFAULT_POSE = _per_joint(
    {"hip_pitch": -0.312, "knee": 0.669, "ankle_pitch": -0.363, "shoulder_pitch": 0.2, "left_shoulder_roll": 0.2,
     "right_shoulder_roll": -0.2, "elbow": 0.6}
)
DEFAULT_ROOT_HEIGHT = 0.7565
SOLE_OFFSET = 0.035  # sole plane below the ankle-roll frame origin (m)

# Tracking keypoints: each is a site `<name>_keypoint` in g1.xml.
KEYPOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip", "left_knee", "left_ankle", "left_toe",
    "right_hip", "right_knee", "right_ankle", "right_toe",
    "torso", "head",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
)
KEYPOINT_SITES: tuple[str, ...] = tuple(f"{name}_keypoint" for name in KEYPOINT_NAMES)
KEYPOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
# GenMimic's weighting groups: end effectors > upper body > lower body.
KEYPOINT_GROUPS: dict[str, str] = {
    "pelvis": "lower", "left_hip": "lower", "right_hip": "lower", "left_knee": "lower", "right_knee": "lower",
    "left_ankle": "end_effector", "right_ankle": "end_effector", "left_toe": "end_effector",
    "right_toe": "end_effector", "head": "end_effector", "left_wrist": "end_effector",
    "right_wrist": "end_effector", "left_hand": "end_effector", "right_hand": "end_effector",
    "torso": "upper", "left_shoulder": "upper", "right_shoulder": "upper", "left_elbow": "upper",
    "right_elbow": "upper",
}
# The canonical human (SMPL) joint each robot keypoint follows.
KEYPOINT_TO_SMPL: dict[str, str] = {
    "pelvis": "pelvis", "left_hip": "left_hip", "left_knee": "left_knee", "left_ankle": "left_ankle",
    "left_toe": "left_foot", "right_hip": "right_hip", "right_knee": "right_knee", "right_ankle": "right_ankle",
    "right_toe": "right_foot", "torso": "spine3", "head": "head", "left_shoulder": "left_shoulder",
    "left_elbow": "left_elbow", "left_wrist": "left_wrist", "left_hand": "left_hand",
    "right_shoulder": "right_shoulder", "right_elbow": "right_elbow", "right_wrist": "right_wrist",
    "right_hand": "right_hand",
}
FOOT_SITES: tuple[str, str] = ("left_sole", "right_sole")
# Kinematic chain of the keypoints: each keypoint's parent (the pelvis is the root).
KEYPOINT_PARENT: dict[str, str] = {
    "left_hip": "pelvis", "left_knee": "left_hip", "left_ankle": "left_knee", "left_toe": "left_ankle",
    "right_hip": "pelvis", "right_knee": "right_hip", "right_ankle": "right_knee", "right_toe": "right_ankle",
    "torso": "pelvis", "head": "torso",
    "left_shoulder": "torso", "left_elbow": "left_shoulder", "left_wrist": "left_elbow", "left_hand": "left_wrist",
    "right_shoulder": "torso", "right_elbow": "right_shoulder", "right_wrist": "right_elbow",
    "right_hand": "right_wrist",
}


def _mirror_name(name: str) -> str:
    for a, b in (("left", "right"), ("right", "left")):
        if name.startswith(a + "_"):
            return b + name[len(a):]
    return name


# Left/right mirror (reflection y -> -y): swap sides; roll (x) and yaw (z) joint angles change sign, pitch (y) does not.
JOINT_MIRROR_INDEX = np.array([JOINT_INDEX[_mirror_name(j)] for j in JOINT_NAMES])
JOINT_MIRROR_SIGN = np.array([-1.0 if ("roll" in j or "yaw" in j) else 1.0 for j in JOINT_NAMES], dtype=np.float32)
KEYPOINT_MIRROR_INDEX = np.array([KEYPOINT_INDEX[_mirror_name(k)] for k in KEYPOINT_NAMES])
