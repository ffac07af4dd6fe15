"""What a reference motion asks of the G1's motors: the joint torques that would play it exactly.

Inverse dynamics in C MuJoCo (`mj_inverse`, contacts off) gives the generalized force that produces the reference's
accelerations; the floor supplies the free root's six components through the feet on it, with the split between
two feet that asks the least of the motors (least squares of torque / limit). A frame in which a motor would need
more than its limit (`constants.TORQUE_LIMITS`) cannot be followed exactly: the policy has to leave the path there.
Frames with no foot near the floor (flight) are not judged.
"""

import mujoco
import numpy as np
from scipy.signal import savgol_filter

from genmimic_jax.retarget import balance
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

SUPPORT_HEIGHT = 0.03  # m: a sole this close to the floor can carry the robot
SMOOTHING_SECONDS = 0.2  # window of the Savitzky-Golay filter giving velocities and accelerations
FEET = ("left_ankle_roll_link", "right_ankle_roll_link")


def _velocities(model: mujoco.MjModel, qpos: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed velocities and accelerations [T, nv] of a trajectory qpos [T, nq] (central differences on the
    configuration manifold, then a cubic Savitzky-Golay filter)."""
    num_frames = len(qpos)
    velocity = np.zeros((num_frames, model.nv))
    for t in range(num_frames):
        before, after = max(t - 1, 0), min(t + 1, num_frames - 1)
        if after > before:
            mujoco.mj_differentiatePos(model, velocity[t], (after - before) / fps, qpos[before], qpos[after])
    window = min(max(5, int(SMOOTHING_SECONDS * fps) // 2 * 2 + 1), (num_frames - 1) // 2 * 2 + 1)
    if window < 5:
        return velocity, np.gradient(velocity, 1.0 / fps, axis=0)
    return (savgol_filter(velocity, window, 3, axis=0),
            savgol_filter(velocity, window, 3, deriv=1, delta=1.0 / fps, axis=0))


def torque_ratios(qpos: np.ndarray, fps: float) -> np.ndarray:
    """|torque| / limit [T, 29] per joint (MuJoCo order) that playing qpos [T, 36] at `fps` asks for; NaN in frames
    with no foot on the floor."""
    model = g1_model.load_model(scene=False)
    model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONTACT
    data = mujoco.MjData(model)
    qpos = np.asarray(qpos, np.float64)
    velocity, acceleration = _velocities(model, qpos, fps)
    feet = [model.body(name).id for name in FEET]
    weight = 1.0 / constants.TORQUE_LIMITS.astype(np.float64) ** 2
    ratios = np.full((len(qpos), constants.NUM_JOINTS), np.nan)
    position, rotation = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    for t in range(len(qpos)):
        data.qpos[:], data.qvel[:], data.qacc[:] = qpos[t], velocity[t], acceleration[t]
        mujoco.mj_inverse(model, data)
        jacobians = []
        for foot in feet:
            if data.xpos[foot, 2] - constants.SOLE_OFFSET < SUPPORT_HEIGHT:
                mujoco.mj_jacBody(model, data, position, rotation, foot)
                jacobians.append(np.vstack([position, rotation]))
        if not jacobians:
            continue
        # Ground wrenches w at the feet: root rows A w = f_root, torques tau = f_joints - B w, min sum weight tau^2.
        jacobian = np.vstack(jacobians)
        root, joints = jacobian[:, :6].T, jacobian[:, 6:].T
        force = data.qfrc_inverse
        size = root.shape[1]
        kkt = np.block([[joints.T @ (weight[:, None] * joints), root.T], [root, np.zeros((6, 6))]])
        rhs = np.concatenate([joints.T @ (weight * force[6:]), force[:6]])
        wrench = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:size]
        ratios[t] = np.abs(force[6:] - joints @ wrench) / constants.TORQUE_LIMITS
    return ratios


def torque_over_limit_s(qpos: np.ndarray, fps: float) -> float:
    """The longest stretch (s) in which playing qpos [T, 36] at `fps` asks a motor for more than its torque limit."""
    over = np.nan_to_num(torque_ratios(qpos, fps), nan=0.0).max(axis=1) > 1.0
    return balance.longest_stretch_s(over, fps)
