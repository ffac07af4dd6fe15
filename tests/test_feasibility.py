"""The torques a reference asks of the G1's motors (`eval.feasibility`)."""

import numpy as np

from genmimic_jax.eval import feasibility
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

FPS = 50.0


def swinging_arms(frequency: float, seconds: float = 2.0, height: float = 0.0) -> np.ndarray:
    """qpos [T, 36]: the default pose on the floor (lifted by `height`), the shoulders pitching 1 rad at `frequency`
    Hz in opposite phase (as in walking, so that the arms' reactions on the trunk mostly cancel)."""
    t = np.arange(int(seconds * FPS)) / FPS
    qpos = np.tile(g1_model.default_qpos(), (len(t), 1))
    qpos[:, 2] += height
    for side, sign in (("left", 1.0), ("right", -1.0)):
        qpos[:, 7 + constants.JOINT_INDEX[f"{side}_shoulder_pitch_joint"]] += sign * np.sin(2 * np.pi * frequency * t)
    return qpos


def test_standing_and_a_slow_swing_ask_little_of_the_motors():
    ratios = feasibility.torque_ratios(swinging_arms(0.0), FPS)
    assert np.isfinite(ratios).all()  # both feet on the floor: every frame judged
    assert ratios.max() < 0.3
    slow = feasibility.torque_ratios(swinging_arms(0.5), FPS)
    assert slow.max() < 0.5
    assert feasibility.torque_over_limit_s(swinging_arms(0.5), FPS) == 0.0


def test_a_fast_swing_asks_the_shoulders_for_more_than_their_limit():
    """1 rad at 4 Hz: 630 rad/s^2 on ~0.2 kg m^2 of arm (with its rotors) asks ~125 N m of the 25 N m shoulders."""
    qpos = swinging_arms(4.0)
    ratios = feasibility.torque_ratios(qpos, FPS)
    worst = np.argmax(ratios.max(axis=0))
    assert constants.JOINT_NAMES[worst] in ("left_shoulder_pitch_joint", "right_shoulder_pitch_joint")
    assert ratios.max() > 1.5
    assert feasibility.torque_over_limit_s(qpos, FPS) > 0.02


def test_frames_in_the_air_are_not_judged():
    qpos = swinging_arms(4.0, height=0.3)
    assert np.isnan(feasibility.torque_ratios(qpos, FPS)).all()
    assert feasibility.torque_over_limit_s(qpos, FPS) == 0.0
