"""A built-in reference motion: the default pose with smooth arm, waist and leg motion, made in code.

It needs no data file, so tests, the PPO smoke runs and the main job can always track something.
"""

import numpy as np
from scipy.spatial import transform

from genmimic_jax.envs import motion_lib
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

# (joint, amplitude rad, frequency Hz, phase rad): arms wave out of phase, the waist twists, the legs dip.
_WAVES = (
    ("left_shoulder_pitch_joint", 0.6, 0.5, 0.0),
    ("right_shoulder_pitch_joint", 0.6, 0.5, np.pi),
    ("left_shoulder_roll_joint", 0.3, 0.25, 0.0),
    ("right_shoulder_roll_joint", -0.15, 0.25, 0.5),
    ("left_elbow_joint", 0.4, 0.5, 0.3),
    ("right_elbow_joint", 0.3, 0.5, 1.2),
    ("waist_yaw_joint", 0.25, 0.25, 0.0),
    ("waist_pitch_joint", 0.1, 0.5, 0.7),
)
_DIP_DEPTH = 0.15  # knee bend amplitude of the leg dip (rad)
_DIP_FREQUENCY = 0.5


def synthetic_motion(duration: float = 4.0, fps: float = 50.0, scale: float = 1.0, yaw: float = 0.0,
                     position: tuple[float, float] = (0.0, 0.0)) -> motion_lib.ReferenceClip:
    """A standing G1 waving its arms, twisting and dipping, with both soles on the floor.

    Args:
      duration: seconds.
      fps: frame rate.
      scale: multiplies every motion amplitude (0 gives the still default pose).
      yaw: heading of the root (rad).
      position: root x, y (m).
    """
    t = np.arange(int(round(duration * fps)) + 1) / fps
    qpos = np.tile(g1_model.default_qpos(), (t.size, 1))
    for joint, amplitude, frequency, phase in _WAVES:
        j = 7 + constants.JOINT_INDEX[joint]
        qpos[:, j] += scale * amplitude * (np.sin(2 * np.pi * frequency * t + phase) - np.sin(phase))
    dip = scale * _DIP_DEPTH * 0.5 * (1.0 - np.cos(2 * np.pi * _DIP_FREQUENCY * t))
    for side in ("left", "right"):
        qpos[:, 7 + constants.JOINT_INDEX[f"{side}_knee_joint"]] += dip
        qpos[:, 7 + constants.JOINT_INDEX[f"{side}_hip_pitch_joint"]] -= dip / 2
        qpos[:, 7 + constants.JOINT_INDEX[f"{side}_ankle_pitch_joint"]] -= dip / 2
    qpos[:, 3:7] = transform.Rotation.from_euler("z", yaw).as_quat(scalar_first=True)
    qpos[:, :2] = position
    model = g1_model.load_model(scene=True)
    # Lower the root so the soles stay at their default-pose height while the knees bend.
    sole_z = motion_lib.forward_kinematics(model, qpos, constants.FOOT_SITES)[0][..., 2].mean(axis=1)
    rest = motion_lib.forward_kinematics(model, g1_model.default_qpos()[None], constants.FOOT_SITES)[0]
    rest_z = rest[0, :, 2].mean()
    qpos[:, 2] -= sole_z - rest_z
    keypoints = motion_lib.forward_kinematics(model, qpos, constants.KEYPOINT_SITES)[0]
    return motion_lib.ReferenceClip(qpos=qpos.astype(np.float32), fps=float(fps),
                                    keypoints=keypoints.astype(np.float32), source="synthetic")
