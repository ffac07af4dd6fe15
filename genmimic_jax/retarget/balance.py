"""Balance of a retargeted clip: its centre of mass (quasi-static) and its zero-moment point (dynamic) against the
support polygon of its feet.

A step leaves the polygon for a moment (at most 0.13 s in the shared walks, run, punch and slash). A pose held
outside it for longer can only be followed by balancing dynamically, which a tracking policy finds hardest. The G1's
mass sits otherwise than a human's: in the shared dance-short's 3 s toe touch the G1's centre of mass is 55 mm
beside its flat foot, inside the polygon only by its other foot's toe tip. `hold_shift` moves the upper body's
targets over the support where a clip holds a pose off balance (slowly, for long enough), so steps and dynamic moves
keep the human's motion.

The zero-moment point (`zero_moment_point`) is where the floor would have to push for the robot to move as the clip
says: outside the support polygon the clip asks for a pull or a grip the feet cannot give, and no controller can
follow it exactly. Its longest stretch outside tells the clips a tracker cannot follow as they are (the shared kick's
high kicks: 0.8 s each, up to 0.3-0.9 m out of the stance foot) from those it can (every shared walk: at most 0.13 s).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, ndimage, signal

from genmimic_jax.robot.g1 import constants

SUPPORT_HEIGHT = 0.01  # m: a foot corner this close to the floor supports the robot
GRAVITY = 9.81
# Motion capture's noise is differentiated twice for the zero-moment point: a local cubic fit over this window smooths
# it (a step's load transfer takes ~0.1 s) without blurring a kick (~0.3 s).
DERIVATIVE_WINDOW_S = 0.2
UNBALANCED = 0.03  # m: a centre of mass this far outside the support polygon counts as off balance

# How much of the balance shift each keypoint's target takes: the trunk, arms and hips all of it, the knees half,
# the feet none (they stay where the human put them).
SHIFT_SHARE = np.array([0.5 if "knee" in name else 0.0 if ("ankle" in name or "toe" in name) else 1.0
                        for name in constants.KEYPOINT_NAMES], np.float32)


def support_offset(com: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """[T, 2] horizontal vector from the centre of mass [T, 3] (or another point) to the nearest point of the support
    polygon, the convex hull of the foot corners [T, ..., 3] within SUPPORT_HEIGHT of the floor: 0 inside, NaN with no
    foot on the floor or a NaN point.

    The point is outside when the directions to the corners leave a gap of more than half a turn; the nearest point
    is then on the nearest segment between two corners on the floor (an edge of the polygon).
    """
    corners = corners.reshape(len(corners), -1, 3)
    on_floor = corners[..., 2] < SUPPORT_HEIGHT  # [T, C]
    offset = corners[..., :2] - com[:, None, :2]
    # Directions to the corners, sorted; corners off the floor get 4 (beyond pi) and sort last.
    angle = np.sort(np.where(on_floor, np.arctan2(offset[..., 1], offset[..., 0]), 4.0), -1)
    count = on_floor.sum(-1)
    consecutive = np.diff(angle, axis=-1)
    consecutive = np.where(np.arange(1, angle.shape[1]) < count[:, None], consecutive, 0.0)
    last = np.take_along_axis(angle, np.maximum(count - 1, 0)[:, None], -1)[:, 0]
    widest = np.maximum(consecutive.max(-1), np.where(count > 0, angle[:, 0] + 2 * np.pi - last, 0.0))
    outside = np.flatnonzero((count > 0) & (widest > np.pi))
    xy, floor = offset[outside], on_floor[outside]  # corners relative to the centre of mass
    start, edge = xy[:, :, None], xy[:, None, :] - xy[:, :, None]  # every pair of corners
    along = np.clip(-np.sum(start * edge, -1) / np.maximum(np.sum(edge**2, -1), 1e-12), 0.0, 1.0)
    nearest = start + along[..., None] * edge  # [N, C, C, 2]
    distance = np.where(floor[:, :, None] & floor[:, None, :], np.linalg.norm(nearest, axis=-1), np.inf)
    pairs = corners.shape[1] ** 2
    best = distance.reshape(len(outside), pairs).argmin(-1)
    result = np.zeros((len(com), 2))
    result[outside] = nearest.reshape(len(outside), pairs, 2)[np.arange(len(outside)), best]
    return np.where(((count > 0) & np.isfinite(com[:, :2]).all(-1))[:, None], result, np.nan)


def com_outside_support(com: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """[T] how far (m) the centre of mass lies outside the support polygon (`support_offset`): 0 inside, NaN with no
    foot on the floor."""
    return np.linalg.norm(support_offset(com, corners), axis=-1)


def longest_stretch_s(frames: np.ndarray, fps: float) -> float:
    """The longest run of True in frames [T] bool, in seconds."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], frames.astype(np.int8), [0]])))  # starts and ends of the runs
    return float(np.max(edges[1::2] - edges[::2], initial=0) / fps)


def held_off_balance(outside: np.ndarray, speed: np.ndarray, fps: float, hold_seconds: float, max_outside: float,
                     max_speed: float) -> np.ndarray:
    """[T] bool: the frames of stretches at least `hold_seconds` long with the centre of mass more than UNBALANCED
    outside the support polygon (`outside`, NaN frames without support end a stretch) and moving horizontally slower
    than `max_speed` (m/s, `speed`), with a median distance outside of at most `max_outside` (further out, or faster,
    is a move made dynamically, not a pose held)."""
    outside = np.nan_to_num(outside, nan=0.0)
    labels, count = ndimage.label((outside > UNBALANCED) & (speed < max_speed))
    stretches = np.arange(1, count + 1)
    lengths = ndimage.sum_labels(np.ones_like(outside), labels, stretches)
    medians = ndimage.median(outside, labels, stretches) if count else np.zeros(0)
    keep = np.concatenate([[False], (lengths >= hold_seconds * fps) & (np.asarray(medians) <= max_outside)])
    return keep[labels]


def hold_shift(com: np.ndarray, corners: np.ndarray, fps: float, hold_seconds: float, max_outside: float,
               max_speed: float, margin: float, ramp_seconds: float, gain: float, flat_feet_only: bool) -> np.ndarray:
    """[T, K, 3] horizontal shifts of the keypoint targets that bring a clip's centre of mass over its support in the
    stretches held off balance (`held_off_balance`; with `flat_feet_only`, over its flat feet), and nowhere else.

    In those frames the centre of mass is to move to `margin` metres inside the polygon; the trunk, arms and hips move
    `gain` times that (the legs below them move less), the knees half of it and the feet not at all (`SHIFT_SHARE`).
    The shift is smoothed over `ramp_seconds` and ramps in and out over that time around each stretch, so the targets
    do not jump.

    Args:
      com: [T, 3] the solved clip's centre of mass.
      corners: [T, 2, 4, 3] its foot corners.
      fps: the clip's frame rate.
      hold_seconds: the shortest off-balance stretch that is shifted (0: none is).
      max_outside: the largest median distance (m) outside the polygon of a stretch that is shifted.
      max_speed: m/s; a centre of mass moving faster is not holding a pose.
      margin: metres inside the polygon.
      ramp_seconds: smoothing and ramp time.
      gain: the upper body's move per metre of centre-of-mass move.
      flat_feet_only: only feet with every corner on the floor support the robot (a toe tip touching the floor
        holds no pose for long).
    """
    shifts = np.zeros((len(com), len(SHIFT_SHARE), 3), np.float32)
    if hold_seconds <= 0:
        return shifts
    if flat_feet_only:
        corners = np.array(corners, np.float64)
        corners[~(corners[..., 2] < SUPPORT_HEIGHT).all(-1), :, 2] = np.inf
    offset = support_offset(com, corners)
    speed = np.linalg.norm(np.gradient(com[:, :2], axis=0), axis=-1) * fps if len(com) > 1 else np.zeros(len(com))
    held = held_off_balance(np.linalg.norm(offset, axis=-1), speed, fps, hold_seconds, max_outside, max_speed)
    if not held.any():
        return shifts
    length = np.linalg.norm(offset[held], axis=-1, keepdims=True)
    move = np.zeros((len(com), 2))
    move[held] = offset[held] * (1.0 + margin / np.maximum(length, 1e-9))
    # Outside the stretches: the move of the nearest held frame, fading out over the ramp.
    distance, nearest = ndimage.distance_transform_edt(~held, return_indices=True)
    ramp = max(ramp_seconds * fps, 1.0)
    move = move[nearest[0]] * np.clip(1.0 - distance / ramp, 0.0, 1.0)[:, None]
    move = ndimage.uniform_filter1d(move, size=max(int(round(ramp)), 1), axis=0, mode="nearest")
    shifts[..., :2] = gain * move[:, None, :] * SHIFT_SHARE[None, :, None]
    return shifts


def _derivative(values: np.ndarray, fps: float, order: int) -> np.ndarray:
    """d^order/dt^order of `values` [T, ...] along time by a local cubic fit over DERIVATIVE_WINDOW_S (at least 5
    frames; NaN for clips shorter than that)."""
    window = max(int(round(DERIVATIVE_WINDOW_S * fps)) // 2 * 2 + 1, 5)
    window = min(window, (len(values) - 1) // 2 * 2 + 1)
    if window < 5:
        return np.full(values.shape, np.nan)
    return signal.savgol_filter(values, window, 3, deriv=order, delta=1.0 / fps, axis=0, mode="interp")


def _rotation_vector(matrix: np.ndarray) -> np.ndarray:
    """Rotation vectors [..., 3] of rotation matrices [..., 3, 3] turning less than half a turn (the log map, without
    the orthogonalisation of `scipy.spatial.transform.Rotation`, which costs 10x here)."""
    sine_axis = 0.5 * np.stack([matrix[..., 2, 1] - matrix[..., 1, 2], matrix[..., 0, 2] - matrix[..., 2, 0],
                                matrix[..., 1, 0] - matrix[..., 0, 1]], -1)
    sine = np.linalg.norm(sine_axis, axis=-1, keepdims=True)
    cosine = 0.5 * (np.trace(matrix, axis1=-2, axis2=-1)[..., None] - 1.0)
    angle = np.arctan2(sine, cosine)
    return sine_axis * np.where(sine > 1e-9, angle / np.maximum(sine, 1e-9), 1.0)


def centroidal_angular_momentum(com: np.ndarray, body_com: np.ndarray, body_rotation: np.ndarray,
                                body_mass: np.ndarray, body_inertia: np.ndarray, fps: float) -> np.ndarray:
    """[T, 3] angular momentum of the whole robot about its centre of mass (world frame) along a clip.

    Args:
      com: [T, 3] the robot's centre of mass (the solver's, `kinematics.center_of_mass`).
      body_com: [T, B, 3] the bodies' centres of mass; body_rotation: [T, B, 3, 3] their orientations (world).
      body_mass: [B]; body_inertia: [B, 3, 3] about each body's centre of mass, in its frame.
      fps: the clip's frame rate (velocities by `_derivative`; angular velocities from neighbouring frames).
    """
    velocity = _derivative(body_com - com[:, None], fps, 1)
    frame = np.arange(len(body_rotation))
    ahead, behind = np.minimum(frame + 1, len(frame) - 1), np.maximum(frame - 1, 0)
    omega = _rotation_vector(body_rotation[ahead] @ np.swapaxes(body_rotation[behind], -1, -2))  # world frame
    omega = omega * fps / np.maximum(ahead - behind, 1)[:, None, None]
    world_inertia = body_rotation @ body_inertia @ np.swapaxes(body_rotation, -1, -2)
    spin = np.einsum("tbij,tbj->tbi", world_inertia, omega)
    orbit = body_mass[:, None] * np.cross(body_com - com[:, None], velocity)
    return np.sum(orbit + spin, axis=1)


def zero_moment_point(com: np.ndarray, body_com: np.ndarray, body_rotation: np.ndarray, body_mass: np.ndarray,
                      body_inertia: np.ndarray, fps: float) -> np.ndarray:
    """[T, 3] the point of the floor (z = 0) about which the floor's push has no horizontal moment, for the robot to
    move as the clip says; NaN where it would have to pull (the robot falls faster than gravity) and along clips
    too short to differentiate. Arguments as `centroidal_angular_momentum`."""
    force = body_mass.sum() * (_derivative(com, fps, 2) + [0.0, 0.0, GRAVITY])  # the floor's push
    momentum = centroidal_angular_momentum(com, body_com, body_rotation, body_mass, body_inertia, fps)
    torque = _derivative(momentum, fps, 1)
    push = np.where(force[:, 2] > 1e-3 * body_mass.sum() * GRAVITY, force[:, 2], np.nan)
    x = com[:, 0] - (torque[:, 1] + com[:, 2] * force[:, 0]) / push
    y = com[:, 1] + (torque[:, 0] - com[:, 2] * force[:, 1]) / push
    return np.stack([x, y, np.zeros_like(x)], -1)


def zmp_shift(com: np.ndarray, zmp: np.ndarray, corners: np.ndarray, fps: float, margin: float, max_step: float,
              gain: float) -> np.ndarray:
    """[T, K, 3] horizontal shifts of the keypoint targets that move a clip's zero-moment point (`zero_moment_point`)
    into its support polygon, by moving its centre of mass (a dynamics filter in the manner of Nakaoka et al.'s
    dancing HRP-2).

    In the cart-table model the zero-moment point is p = c - (h / g) c'' (c: the horizontal centre of mass, h its
    height), so moving the centre of mass by d moves the point by d - (h / g) d''. The point's wanted move (to `margin`
    metres inside the polygon where it is outside, 0 inside or without support) gives d by one banded solve along
    the clip: a smoothing of the wanted move over sqrt(h / g) ~ 0.26 s, so a short excursion asks a smaller, earlier
    and later, move of the body (it shifts the point by accelerating the centre of mass). d is capped at `max_step`
    metres; the trunk, arms and hips move `gain` times d, the knees half and the feet not at all (`SHIFT_SHARE`).
    The centre of mass does not follow its targets exactly and the angular momentum changes with the pose, so a
    caller solves again and repeats with the new point, adding up the shifts (`Retargeter.solve`).

    Args:
      com: [T, 3] the solved clip's centre of mass; zmp: [T, 3] its zero-moment point.
      corners: [T, 2, 4, 3] its foot corners.
      fps: the clip's frame rate.
      margin: metres inside the polygon.
      max_step: the largest move of the centre of mass (m) asked at once.
      gain: the upper body's move per metre of centre-of-mass move.
    """
    shifts = np.zeros((len(com), len(SHIFT_SHARE), 3), np.float32)
    offset = support_offset(zmp, corners)
    length = np.linalg.norm(offset, axis=-1, keepdims=True)
    wanted = np.where(length > 0, offset * (1.0 + margin / np.maximum(length, 1e-9)), 0.0)
    wanted = np.nan_to_num(wanted, nan=0.0)
    if not wanted.any() or len(com) < 3:
        return shifts
    stiffness = np.clip(com[:, 2], 0.0, None) / GRAVITY * fps**2  # (h / g) / dt^2 per frame
    # d_t - k_t (d_{t+1} - 2 d_t + d_{t-1}) = wanted_t, the ends reflected (d_{-1} = d_1): a tridiagonal system.
    upper, lower = -stiffness.copy(), -stiffness.copy()
    upper[0], lower[-1] = -2.0 * stiffness[0], -2.0 * stiffness[-1]
    bands = np.zeros((3, len(com)))
    bands[0, 1:] = upper[:-1]
    bands[1] = 1.0 + 2.0 * stiffness
    bands[2, :-1] = lower[1:]
    move = linalg.solve_banded((1, 1), bands, wanted)
    size = np.linalg.norm(move, axis=-1, keepdims=True)
    move = move * np.minimum(1.0, max_step / np.maximum(size, 1e-9))
    shifts[..., :2] = gain * move[:, None, :] * SHIFT_SHARE[None, :, None]
    return shifts
