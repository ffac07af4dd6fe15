"""The pipeline's built-in human motion, made in code: a person waving, twisting and dipping at the knees.

It is the environment's synthetic G1 motion (`envs.synthetic_motion`) seen as a person: the world positions of the
robot's keypoints are taken as the SMPL joints they stand for (`constants.KEYPOINT_TO_SMPL`) and scaled up to a
person `HUMAN_SCALE` times the robot's size. The SMPL joints the robot has no keypoint for (spine1/2, neck,
collars) are marked missing. So the input is a human-sized keypoint motion for which a good retargeting exists.
"""

import numpy as np

from genmimic_jax.envs.synthetic_motion import synthetic_motion
from genmimic_jax.human import canonical
from genmimic_jax.human.motion import HumanMotion
from genmimic_jax.human.skeleton import JOINT_INDEX as SMPL_INDEX
from genmimic_jax.human.skeleton import NUM_JOINTS as SMPL_JOINTS
from genmimic_jax.robot.g1 import constants

SOURCE = "builtin:synthetic_wave"
HUMAN_SCALE = 1.3  # the G1 is about 1.3 m tall: this makes a person of about 1.7 m


def human_motion(duration: float = 4.0, fps: float = 30.0) -> HumanMotion:
    """The built-in motion as a canonical human motion (SMPL-24 positions, metres, z-up, feet on the floor)."""
    clip = synthetic_motion(duration=duration, fps=fps)
    positions = np.zeros((clip.keypoints.shape[0], SMPL_JOINTS, 3))
    mask = np.zeros(SMPL_JOINTS, bool)
    columns = [SMPL_INDEX[constants.KEYPOINT_TO_SMPL[name]] for name in clip.keypoint_names]
    mask[columns] = True
    positions[:, columns] = HUMAN_SCALE * np.asarray(clip.keypoints, np.float64)
    return canonical.to_canonical(positions, mask, fps, up_axis="z", unit="m", on_floor=True, source=SOURCE)
