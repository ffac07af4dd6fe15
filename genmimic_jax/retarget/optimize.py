"""Whole-trajectory retargeting as one Gauss-Newton optimisation in JAX.

Variables: root position, root orientation and the 29 joint angles of every frame. Clips are packed one after another
along the time axis (a `link` flag cuts the temporal terms between clips) and padded to a bucketed length, so a batch
of clips is one jitted call and a new length reuses a compiled bucket.

Each Gauss-Newton step linearises the per-frame costs (keypoints, planted heels/toes, floor, level swing soles, pelvis
orientation and heading, rest prior, joint-limit margin) into sparse 35x35 blocks per frame, adds the temporal
velocity/acceleration costs as a banded operator over time, and solves the normal equations with conjugate gradients
preconditioned by the exact per-frame block inverse (so CG only has the temporal coupling left to resolve): every
operation is batched over all frames, none is sequential in time. Joint limits are hard (projected Newton): a joint on
a limit that the descent direction points beyond is held out of the step, so the other joints compensate, the step is
clipped into the range, and a quadratic penalty on entering a small margin keeps joints off the limits when it costs
little.
Two stages: the first tracks the targets; the second anchors each planted robot sole where the first stage put it
on average (no sliding).
Compile once per (bucket length, iteration counts); the weights are traced, so changing them does not recompile.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from genmimic_jax.retarget import kinematics
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

NUM_KEYPOINTS = len(constants.KEYPOINT_NAMES)
NUM_CORNERS = 4  # contact spheres per foot
# The floor residual is a softplus of the height (m) with this softness, not an active set: an active set switching
# on and off between Gauss-Newton steps oscillates and can end a step below the floor.
FLOOR_SOFTNESS = 0.003
_AT_LIMIT = 1e-4  # rad: a joint this close to a limit counts as on it


class Weights(NamedTuple):
    """Cost weights (residual multipliers; a 1 m keypoint error at weight 1 costs 1)."""

    keypoint: jax.Array  # [K]
    pelvis_orientation: jax.Array  # per radian
    heading: jax.Array  # per radian of pelvis heading (its left axis, horizontal) from the human's hip line
    rest: jax.Array  # [29] per radian from DEFAULT_POSE
    limit: jax.Array  # per radian inside the limit margin
    limit_margin: jax.Array  # radians
    velocity: jax.Array  # [35] per unit/s (m/s, rad/s)
    acceleration: jax.Array  # [35] per unit/s^2
    plant_height: jax.Array  # per metre of planted sole height
    plant_slide: jax.Array  # per metre of planted sole drift from its anchor
    ground: jax.Array  # per metre below the floor
    # per metre of a swing foot's corner height from its four corners' mean, where its floor is raised (0: off)
    swing_level: jax.Array
    damping: jax.Array  # Levenberg damping added to the normal equations
    arm_follow: jax.Array  # 0..1: the share of a robot shoulder's miss that shifts its arm's targets along


class Problem(NamedTuple):
    """Packed frames of one or more clips, all arrays with leading axis T (the bucket length)."""

    targets: jax.Array  # [T, K, 3] scaled human keypoints
    target_valid: jax.Array  # [T, K] 1 where the target exists
    pelvis_rotation: jax.Array  # [T, 3, 3] human pelvis frame
    planted: jax.Array  # [T, 2, 2] 1 where the left/right human heel/toe is planted
    sole_floor: jax.Array  # [T, 2] lowest height of the left/right sole and its corners (`contact.swing_floor`)
    link: jax.Array  # [T] 1 where frame t-1 is the previous frame of the same clip
    valid: jax.Array  # [T] 1 for real frames, 0 for padding
    fps: jax.Array  # [T] frame rate of the frame's clip


class Solution(NamedTuple):
    root_pos: jax.Array  # [T, 3]
    root_rot: jax.Array  # [T, 3, 3]
    joints: jax.Array  # [T, 29]


# Tangent blocks (preconditioner): root (translation + rotation), left leg, right leg, waist, left arm, right arm.
_J = constants.JOINT_INDEX
BLOCKS: tuple[slice, ...] = (
    slice(0, 6),
    slice(6 + _J["left_hip_pitch_joint"], 6 + _J["left_ankle_roll_joint"] + 1),
    slice(6 + _J["right_hip_pitch_joint"], 6 + _J["right_ankle_roll_joint"] + 1),
    slice(6 + _J["waist_yaw_joint"], 6 + _J["waist_pitch_joint"] + 1),
    slice(6 + _J["left_shoulder_pitch_joint"], 6 + _J["left_wrist_yaw_joint"] + 1),
    slice(6 + _J["right_shoulder_pitch_joint"], 6 + _J["right_wrist_yaw_joint"] + 1),
)


@dataclasses.dataclass(frozen=True)
class PointGroup:
    """Points moved only by the root, and by the joints of `blocks` (indices into BLOCKS, root excluded)."""

    points: np.ndarray  # [Pg] point indices (see `TrackedPoints`)
    blocks: tuple[int, ...]  # the BLOCKS that move them: the root (0) first
    columns: np.ndarray  # [Cg] rotational tangent columns (3..34) that move them: the root's three first
    moves: np.ndarray  # [Pg, Cg] whether column c moves point p


@dataclasses.dataclass(frozen=True)
class TrackedPoints:
    """Static description of the tracked points: keypoint sites, then the soles, then the foot corners."""

    body: np.ndarray  # [P]
    offset: np.ndarray  # [P, 3]
    sole: np.ndarray  # [2] point index of the left/right sole
    corners: np.ndarray  # [2, 4] point indices of the foot corners
    corner_part: np.ndarray  # [4] 0 for a heel corner, 1 for a toe corner (ahead of the ankle)
    groups: tuple[PointGroup, ...]


@functools.cache
def tracked_points() -> TrackedPoints:
    tree = kinematics.g1_tree()
    model = g1_model.load_model(scene=False)
    sites = tree.site_index(constants.KEYPOINT_SITES + constants.FOOT_SITES)
    body = list(tree.site_body[sites])
    offset = list(tree.site_offset[sites])
    corners = []
    for side in ("left", "right"):
        ids = []
        for i in range(NUM_CORNERS):
            geom = model.geom(f"{side}_foot_contact_{i}")
            ids.append(len(body))
            body.append(model.geom_bodyid[geom.id] - 1)
            offset.append(model.geom_pos[geom.id] - np.array([0.0, 0.0, model.geom_size[geom.id][0]]))
        corners.append(ids)
    body = np.array(body)
    moves = kinematics.rotation_moves(tree, body)  # [P, 32]
    kp = constants.KEYPOINT_INDEX
    members = {
        (1,): [kp[f"left_{n}"] for n in ("hip", "knee", "ankle", "toe")] + [NUM_KEYPOINTS] + corners[0],
        (2,): [kp[f"right_{n}"] for n in ("hip", "knee", "ankle", "toe")] + [NUM_KEYPOINTS + 1] + corners[1],
        (3,): [kp["pelvis"], kp["torso"], kp["head"]],
        (3, 4): [kp[f"left_{n}"] for n in ("shoulder", "elbow", "wrist", "hand")],
        (3, 5): [kp[f"right_{n}"] for n in ("shoulder", "elbow", "wrist", "hand")],
    }
    groups = []
    for limbs, group_points in members.items():
        columns = np.concatenate([np.arange(3, 6)] + [np.arange(BLOCKS[b].start, BLOCKS[b].stop) for b in limbs])
        outside = np.setdiff1d(np.arange(3, 35), columns)
        if moves[np.ix_(group_points, outside - 3)].any():
            raise AssertionError(f"points {group_points} move with joints outside blocks {limbs}")
        groups.append(PointGroup(np.array(group_points), (0, *limbs), columns, moves[np.ix_(group_points, columns - 3)]))
    if sorted(np.concatenate([g.points for g in groups])) != list(range(len(body))):
        raise AssertionError("every tracked point must belong to exactly one group")
    offset = np.array(offset, np.float32)
    return TrackedPoints(body, offset, np.arange(NUM_KEYPOINTS, NUM_KEYPOINTS + 2), np.array(corners),
                         (offset[corners[0], 0] > 0).astype(int), tuple(groups))


def body_frames(solution: Solution) -> kinematics.Frames:
    """World poses of the G1's bodies in every frame of a solution."""
    return kinematics.forward(kinematics.g1_tree(), solution.root_pos, solution.root_rot, solution.joints)


def world_points(frames: kinematics.Frames) -> jax.Array:
    """Keypoints, soles and foot corners [T, P, 3] of a solution's body frames (`body_frames`)."""
    points = tracked_points()
    return kinematics.points(frames, points.body, points.offset)


class Linearization(NamedTuple):
    """Point residuals and their group-sparse Jacobians at the current solution."""

    jacobians: tuple[jax.Array, ...]  # per group [T, Pg, Cg, 3]: d point / d rotational column
    weight2: jax.Array  # [T, P, 3] squared residual weights
    residual: jax.Array  # [T, P, 3] point minus target (unweighted)


def _linearize(solution: Solution, problem: Problem, anchors: jax.Array, weights: Weights) -> Linearization:
    tree = kinematics.g1_tree()
    points = tracked_points()
    frames = body_frames(solution)
    pos = world_points(frames)  # [T, P, 3]
    axes, anchors_w = kinematics.rotation_axes(tree, frames)
    jacobians = []
    for group in points.groups:
        lever = pos[:, group.points, None, :] - anchors_w[:, None, group.columns - 3, :]
        axis = jnp.broadcast_to(axes[:, None, group.columns - 3, :], lever.shape)
        jacobians.append(jnp.cross(axis, lever) * group.moves[..., None])

    kp_weight = weights.keypoint * problem.target_valid * problem.valid[:, None]  # [T, K]
    kp_weight = jnp.repeat(kp_weight[..., None], 3, -1)
    sole_z = pos[:, points.sole, 2]  # [T, 2]
    sole_z_weight, sole_z_target = _floor_term(sole_z, weights.ground, problem.sole_floor)
    sole_xy_weight = weights.plant_slide * problem.planted.max(-1) * jnp.isfinite(anchors[..., 0])
    sole_weight = jnp.concatenate([jnp.repeat(sole_xy_weight[..., None], 2, -1), sole_z_weight[..., None]], -1)
    sole_target = jnp.concatenate([jnp.nan_to_num(anchors), sole_z_target[..., None]], -1)
    corner_z = pos[:, points.corners.reshape(-1), 2]  # [T, 8]
    corner_planted = problem.planted[:, :, points.corner_part].reshape(corner_z.shape) > 0  # its heel/toe planted
    corner_floor = jnp.repeat(problem.sole_floor, NUM_CORNERS, axis=1)  # [T, 8], as points.corners.reshape(-1)
    floor_weight, floor_target = _floor_term(corner_z, weights.ground, corner_floor)
    # A raised floor under the corners is met most cheaply by tilting the foot (ankle pitch and roll) to lift its
    # lowest corner; with swing_level the corners are held level instead and the sole's own raised floor lifts them.
    level = (corner_floor > 0) & (weights.swing_level > 0)
    foot_mean_z = jnp.repeat(corner_z.reshape(-1, 2, NUM_CORNERS).mean(-1), NUM_CORNERS, axis=1)
    floor_weight = jnp.where(level, weights.swing_level, floor_weight)
    floor_target = jnp.where(level, foot_mean_z, floor_target)
    corner_z_weight = jnp.where(corner_planted, weights.plant_height, floor_weight)
    corner_weight = jnp.zeros(corner_z.shape + (3,)).at[..., 2].set(corner_z_weight)
    corner_target = jnp.where(corner_planted, 0.0, floor_target)[..., None] * jnp.array([0.0, 0.0, 1.0])
    weight = jnp.concatenate([kp_weight, sole_weight, corner_weight], 1) * problem.valid[:, None, None]
    target = jnp.concatenate([_arm_targets(problem.targets, pos, weights.arm_follow), sole_target, corner_target], 1)
    return Linearization(tuple(jacobians), weight**2, pos - target)


def _arm_targets(targets: jax.Array, pos: jax.Array, follow: jax.Array) -> jax.Array:
    """Targets [T, K, 3] with each arm's elbow, wrist and hand targets shifted by `follow` times the robot shoulder's
    miss (its keypoint minus its target): a shoulder the G1's trunk cannot put on its target then moves its arm's
    targets with it, so the arm keeps the human's limb directions instead of tilting towards absolute positions."""
    kp = constants.KEYPOINT_INDEX
    for side in ("left", "right"):
        miss = pos[:, kp[f"{side}_shoulder"]] - targets[:, kp[f"{side}_shoulder"]]
        chain = [kp[f"{side}_{name}"] for name in ("elbow", "wrist", "hand")]
        targets = targets.at[:, chain].add(follow * miss[:, None, :])
    return targets


def _floor_term(z: jax.Array, weight: jax.Array, floor: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Weight and target that make `weight * (z - target)` the smooth floor residual `weight * f(z - floor)`, with
    f(h) = -softplus(-h / s) * s (about min(h, 0), softness s = FLOOR_SOFTNESS) and the weight scaled by f'(h)."""
    scaled = (floor - z) / FLOOR_SOFTNESS
    slope = jax.nn.sigmoid(scaled)  # f'(h)
    ratio = jnp.where(scaled < -20.0, -FLOOR_SOFTNESS, -FLOOR_SOFTNESS * jax.nn.softplus(scaled) / slope)  # f / f'
    return weight * slope, z - ratio


def _vjp(lin: Linearization, u: jax.Array) -> jax.Array:
    """J^T u: tangent vectors [T, 35] of point vectors u [T, P, 3]."""
    out = jnp.zeros(u.shape[:1] + (kinematics.TANGENT_SIZE,), u.dtype).at[:, :3].set(jnp.sum(u, axis=1))
    for group, jac in zip(tracked_points().groups, lin.jacobians):
        out = out.at[:, group.columns].add(jnp.sum(jac * u[:, group.points, None, :], axis=(1, 3)))
    return out


def _gauss_newton_blocks(lin: Linearization) -> dict[tuple[int, int], jax.Array]:
    """The nonzero blocks of J^T W J over BLOCKS: {(i, j): [T, n_i, n_j]} for i <= j.

    Each point group touches the root and one or two limb blocks, so most of the 35x35 matrix is zero.
    """
    num_frames = lin.weight2.shape[0]
    blocks: dict[tuple[int, int], jax.Array] = {}
    for group, jac in zip(tracked_points().groups, lin.jacobians):
        w2 = lin.weight2[:, group.points]  # [T, Pg, 3]
        translation = jnp.broadcast_to(jnp.eye(3), w2.shape + (3,))  # [T, Pg, 3(a), 3(dof)]
        full = jnp.concatenate([translation, jnp.swapaxes(jac, -1, -2)], -1)  # [T, Pg, 3(a), F]
        full = full.reshape(num_frames, -1, full.shape[-1])
        gram = jnp.sum((full * w2.reshape(num_frames, -1, 1))[:, :, :, None] * full[:, :, None, :], axis=1)
        starts = np.cumsum([0] + [BLOCKS[b].stop - BLOCKS[b].start for b in group.blocks])
        for a, i in enumerate(group.blocks):
            for b, j in enumerate(group.blocks):
                if i <= j:
                    piece = gram[:, starts[a]:starts[a + 1], starts[b]:starts[b + 1]]
                    blocks[i, j] = blocks[i, j] + piece if (i, j) in blocks else piece
    return blocks


def _blocks_matvec(blocks: dict[tuple[int, int], jax.Array], v: jax.Array) -> jax.Array:
    """(J^T W J) v for v [T, 35] from the blocks of `_gauss_newton_blocks`."""
    parts = [v[:, s] for s in BLOCKS]
    out = [jnp.zeros_like(p) for p in parts]
    for (i, j), block in blocks.items():
        out[i] = out[i] + kinematics.matvec3(block, parts[j])
        if i != j:
            out[j] = out[j] + kinematics.matvec3(jnp.swapaxes(block, -1, -2), parts[i])
    return jnp.concatenate(out, -1)


def _inverse_cholesky_factor(matrix: jax.Array) -> jax.Array:
    """L^-1 [..., n, n] for the lower Cholesky factor L of small symmetric positive definite matrices [..., n, n]
    (A^-1 = L^-T L^-1), unrolled over the entries, each an array over the batch. Each column of L and each row of
    L^-1 is materialised (`optimization_barrier`) before later entries use it, which bounds what XLA fuses into one
    kernel: the steady solve then runs 1.19x faster on 2 cores (1.02-1.04x less CPU; benchmarks/RESULTS.md)."""
    n = matrix.shape[-1]
    factor = [[None] * n for _ in range(n)]
    for j in range(n):
        pivot = matrix[..., j, j] - sum(factor[j][k] ** 2 for k in range(j))
        factor[j][j] = jnp.sqrt(jnp.maximum(pivot, 1e-12))
        for i in range(j + 1, n):
            factor[i][j] = (matrix[..., i, j] - sum(factor[i][k] * factor[j][k] for k in range(j))) / factor[j][j]
        for i, entry in enumerate(jax.lax.optimization_barrier([factor[i][j] for i in range(j, n)]), j):
            factor[i][j] = entry
    inverse = [[jnp.zeros_like(matrix[..., 0, 0])] * n for _ in range(n)]
    for i in range(n):
        inverse[i][i] = 1.0 / factor[i][i]
        for j in range(i):
            inverse[i][j] = -sum(factor[i][k] * inverse[k][j] for k in range(j, i)) / factor[i][i]
        inverse[i][:i + 1] = jax.lax.optimization_barrier(inverse[i][:i + 1])
    return jnp.stack([jnp.stack(row, -1) for row in inverse], -2)


def _gram(matrix: jax.Array) -> jax.Array:
    """M^T M for small matrices [..., m, n]."""
    return kinematics.matmul3(jnp.swapaxes(matrix, -1, -2), matrix)


def _diagonal_terms(solution: Solution, problem: Problem, weights: Weights):
    """Diagonal Hessian [T, 35] and gradient [T, 35] of the pelvis-orientation, rest-prior and limit costs."""
    lo, hi = jnp.asarray(constants.JOINT_LIMITS[:, 0]), jnp.asarray(constants.JOINT_LIMITS[:, 1])
    excess = solution.joints - jnp.clip(solution.joints, lo + weights.limit_margin, hi - weights.limit_margin)
    limit_h = weights.limit**2 * (excess != 0)
    rest_error = solution.joints - jnp.asarray(constants.DEFAULT_POSE)
    orientation_error = kinematics.matrix_to_rotvec(jnp.swapaxes(problem.pelvis_rotation, -1, -2) @ solution.root_rot)
    valid = problem.valid[:, None]
    hess = jnp.concatenate([
        jnp.zeros_like(solution.root_pos),
        jnp.broadcast_to(weights.pelvis_orientation**2, orientation_error.shape),
        weights.rest**2 + limit_h,
    ], -1) * valid
    grad = jnp.concatenate([
        jnp.zeros_like(solution.root_pos),
        weights.pelvis_orientation**2 * orientation_error,
        weights.rest**2 * rest_error + weights.limit**2 * excess,
    ], -1) * valid
    return hess, grad


def _heading_term(solution: Solution, problem: Problem, weights: Weights) -> tuple[jax.Array, jax.Array]:
    """Weighted residual [T] and its Jacobian [T, 3] (root rotation tangent) of the heading term: the horizontal
    direction of the robot pelvis's left axis (its hip line) against the human's hip line. Unlike the pelvis
    orientation term's, this heading ignores the human trunk, whose lean tips the human pelvis frame's forward axis
    towards the floor in bows and lunges."""
    rot, human = solution.root_rot, problem.pelvis_rotation[:, :, 1]
    error = jnp.arctan2(rot[:, 1, 1], rot[:, 0, 1]) - jnp.arctan2(human[:, 1], human[:, 0])
    error = jnp.arctan2(jnp.sin(error), jnp.cos(error))
    horizontal = jnp.maximum(1.0 - rot[:, 2, 1] ** 2, 1e-6)  # squared horizontal length of the left axis
    jacobian = jnp.stack([rot[:, 2, 0], jnp.zeros_like(horizontal), rot[:, 2, 2]], -1) / horizontal[:, None]
    weight = weights.heading * problem.valid
    return weight * error, weight[:, None] * jacobian


def _diff(v: jax.Array, link: jax.Array) -> jax.Array:
    """Backward differences d[t] = v[t] - v[t-1] within clips (0 at a clip's first frame; link[0] is 0)."""
    return link[:, None] * (v - jnp.roll(v, 1, axis=0))


def _diff_t(u: jax.Array, link: jax.Array) -> jax.Array:
    """Adjoint of `_diff`."""
    lu = link[:, None] * u
    return lu - jnp.roll(lu, -1, axis=0)


def _forward_diff(u: jax.Array, link2: jax.Array) -> jax.Array:
    """Forward differences a[t] = u[t+1] - u[t] where frames t-1, t, t+1 share a clip (link2[t])."""
    return link2[:, None] * (jnp.roll(u, -1, axis=0) - u)


def _forward_diff_t(w: jax.Array, link2: jax.Array) -> jax.Array:
    """Adjoint of `_forward_diff`."""
    lw = link2[:, None] * w
    return jnp.roll(lw, 1, axis=0) - lw


def _temporal_weights(problem: Problem, weights: Weights) -> tuple[jax.Array, jax.Array]:
    """Squared weights [T, 35] of the finite differences, per unit/s and unit/s^2."""
    fps = problem.fps[:, None]
    return (weights.velocity * fps) ** 2, (weights.acceleration * fps**2) ** 2


def _temporal_adjoint(velocity: jax.Array, problem: Problem, weights: Weights) -> jax.Array:
    """D^T Wv velocity + D^T D'^T Wa D' velocity, for velocities [T, 35] (D: `_diff`, D': `_forward_diff`)."""
    link2 = problem.link * jnp.roll(problem.link, -1)
    wv, wa = _temporal_weights(problem, weights)
    accel = _forward_diff(velocity, link2)
    return _diff_t(wv * velocity + _forward_diff_t(wa * accel, link2), problem.link)


def _current_differences(solution: Solution, problem: Problem) -> jax.Array:
    """Per-frame tangent differences [T, 35] of the current trajectory (relative rotation vectors for the root)."""
    prev_rot = jnp.roll(solution.root_rot, 1, axis=0)
    rot = kinematics.matrix_to_rotvec(jnp.swapaxes(prev_rot, -1, -2) @ solution.root_rot)
    linear = jnp.concatenate([solution.root_pos, solution.joints], -1)
    linear = linear - jnp.roll(linear, 1, axis=0)
    return problem.link[:, None] * jnp.concatenate([linear[:, :3], rot, linear[:, 3:]], -1)


def _pcg(matvec, precondition, rhs: jax.Array, iterations: int) -> jax.Array:
    """Preconditioned conjugate gradients from zero, a fixed number of iterations."""

    def body(_, carry):
        x, r, z, p, rz = carry
        ap = matvec(p)
        alpha = rz / jnp.maximum(jnp.vdot(p, ap), 1e-30)
        x, r = x + alpha * p, r - alpha * ap
        z = precondition(r)
        rz_new = jnp.vdot(r, z)
        p = z + (rz_new / jnp.maximum(rz, 1e-30)) * p
        return x, r, z, p, rz_new

    z = precondition(rhs)
    init = (jnp.zeros_like(rhs), rhs, z, z, jnp.vdot(rhs, z))
    return jax.lax.fori_loop(0, iterations, body, init)[0]


_CORE = (0, 3)  # root and waist: every limb couples only to these
_LIMBS = (1, 2, 4, 5)  # legs and arms


def _frame_solver(blocks: dict[tuple[int, int], jax.Array], diagonal: jax.Array):
    """The exact inverse of each frame's 35x35 block (blocks plus `diagonal` [T, 35]), as a function of r [T, 35].

    Each limb block couples only to the root and the waist (the arms through the waist joints), so the frame matrix
    is inverted through the Schur complement of that 9x9 core over the four limbs (6x6 or 7x7 each), by Cholesky on
    the matrix scaled to a unit diagonal. (Gauss-Jordan without pivoting lost the Schur complement to float32
    error where planted feet carry the root: an indefinite preconditioner, and NaN from the conjugate gradients at
    `weights.ground=100`.)
    """
    whole_diagonal = diagonal + jnp.concatenate(
        [jnp.diagonal(blocks[i, i], axis1=-2, axis2=-1) if (i, i) in blocks else jnp.zeros_like(diagonal[:, s])
         for i, s in enumerate(BLOCKS)], -1)
    scale = jax.lax.rsqrt(whole_diagonal)
    blocks = {(i, j): b * scale[:, BLOCKS[i], None] * scale[:, None, BLOCKS[j]] for (i, j), b in blocks.items()}
    diagonal = diagonal * scale**2

    def block(i, j):
        if (i, j) in blocks:
            return blocks[i, j]
        if (j, i) in blocks:
            return jnp.swapaxes(blocks[j, i], -1, -2)
        return jnp.zeros(diagonal.shape[:1] + (BLOCKS[i].stop - BLOCKS[i].start, BLOCKS[j].stop - BLOCKS[j].start))

    def columns(indices):
        return np.concatenate([np.arange(BLOCKS[i].start, BLOCKS[i].stop) for i in indices])

    def with_diagonal(matrix, indices):
        return matrix + jax.vmap(jnp.diag)(diagonal[:, columns(indices)])

    # The two legs (and the two arms) are factored as one batch: half the unrolled code to compile.
    limb_blocks = [with_diagonal(block(limb, limb), (limb,)) for limb in _LIMBS]
    factors = [f for pair in (limb_blocks[:2], limb_blocks[2:]) for f in _inverse_cholesky_factor(jnp.stack(pair))]
    inverses = [_gram(factor) for factor in factors]
    couplings = [jnp.concatenate([block(c, limb) for c in _CORE], -2) for limb in _LIMBS]  # [T, 9, n]
    core = jnp.concatenate([jnp.concatenate([block(i, j) for j in _CORE], -1) for i in _CORE], -2)
    # core - C A^-1 C^T as core - W^T W with W = L^-1 C^T: symmetric, and what is subtracted is positive semidefinite.
    schur = with_diagonal(core, _CORE) - sum(
        _gram(kinematics.matmul3(factor, jnp.swapaxes(coupling, -1, -2))) for factor, coupling in zip(factors, couplings))
    schur_inverse = _gram(_inverse_cholesky_factor(schur))

    def solve(r):
        parts = {b: r[:, s] for b, s in enumerate(BLOCKS)}
        partial = [kinematics.matvec3(inv, parts[limb]) for inv, limb in zip(inverses, _LIMBS)]
        core_rhs = jnp.concatenate([parts[c] for c in _CORE], -1)
        core_rhs = core_rhs - sum(kinematics.matvec3(b, y) for b, y in zip(couplings, partial))
        core_z = kinematics.matvec3(schur_inverse, core_rhs)
        out = {c: core_z[:, s] for c, s in zip(_CORE, (slice(0, 6), slice(6, 9)))}
        for inverse, coupling, limb, y in zip(inverses, couplings, _LIMBS, partial):
            out[limb] = y - kinematics.matvec3(inverse, kinematics.matvec3(jnp.swapaxes(coupling, -1, -2), core_z))
        return jnp.concatenate([out[b] for b in range(len(BLOCKS))], -1)

    return lambda r: scale * solve(scale * r)


# With the line search, each frame takes the longest of these steps that does not raise its point cost (the last
# one if none does): a Gauss-Newton step that overshoots where floor and contact terms switch on is cut short.
STEP_SCALES = (1.0, 0.5, 0.25)


def _free_columns(joints: jax.Array, joint_gradient: jax.Array, lo: jax.Array, hi: jax.Array) -> jax.Array:
    """[T, 35] 1 for the tangent columns the step may move, 0 for joints on a limit the descent direction points
    beyond: with them held, the step moves the other joints instead of proposing a move that clipping would undo
    (a squat deeper than the ankles allow left the toes in the floor when the step was only clipped)."""
    held = ((joints <= lo + _AT_LIMIT) & (joint_gradient > 0)) | ((joints >= hi - _AT_LIMIT) & (joint_gradient < 0))
    return jnp.concatenate([jnp.ones(joints.shape[:1] + (6,), joints.dtype), 1.0 - held.astype(joints.dtype)], -1)


def _gauss_newton_step(solution: Solution, problem: Problem, anchors: jax.Array, weights: Weights,
                       cg_iterations: int, max_step: float, line_search: bool = False) -> Solution:
    lin = _linearize(solution, problem, anchors, weights)
    diag_h, diag_g = _diagonal_terms(solution, problem, weights)
    hessian = _gauss_newton_blocks(lin)
    heading_residual, heading_jacobian = _heading_term(solution, problem, weights)
    hessian[0, 0] = hessian[0, 0].at[:, 3:, 3:].add(heading_jacobian[:, :, None] * heading_jacobian[:, None, :])
    diag_g = diag_g.at[:, 3:6].add(heading_jacobian * heading_residual[:, None])
    diag_h = diag_h + weights.damping
    gradient = (_vjp(lin, lin.weight2 * lin.residual) + diag_g
                + _temporal_adjoint(_current_differences(solution, problem), problem, weights))
    wv, wa = _temporal_weights(problem, weights)
    lo, hi = jnp.asarray(constants.JOINT_LIMITS[:, 0]), jnp.asarray(constants.JOINT_LIMITS[:, 1])
    free = _free_columns(solution.joints, gradient[:, 6:], lo, hi)
    hessian = {(i, j): block * free[:, BLOCKS[i], None] * free[:, None, BLOCKS[j]] for (i, j), block in hessian.items()}
    precondition = _frame_solver(hessian, free * (diag_h + 2 * wv + 6 * wa) + (1.0 - free))

    def matvec(v):
        constrained = (_blocks_matvec(hessian, v) + diag_h * v
                       + _temporal_adjoint(_diff(free * v, problem.link), problem, weights))
        return free * constrained + (1.0 - free) * v

    step = _pcg(matvec, precondition, -free * gradient, cg_iterations)
    step = step * jnp.minimum(1.0, max_step / jnp.maximum(jnp.max(jnp.abs(step[:, 3:]), -1, keepdims=True), 1e-9))
    if not line_search:
        return _moved(solution, step)
    candidates = [_moved(solution, scale * step) for scale in STEP_SCALES]
    costs = jnp.stack([_frame_cost(_linearize(c, problem, anchors, weights), _heading_term(c, problem, weights)[0])
                       for c in candidates[:-1]])  # [S - 1, T]
    current = _frame_cost(lin, heading_residual)
    longest = jnp.argmax(jnp.concatenate([costs <= current, jnp.ones_like(costs[:1], bool)]), axis=0)  # [T]
    frames = jnp.arange(longest.shape[0])
    return jax.tree.map(lambda *xs: jnp.stack(xs)[longest, frames], *candidates)


def _moved(solution: Solution, step: jax.Array) -> Solution:
    lo, hi = jnp.asarray(constants.JOINT_LIMITS[:, 0]), jnp.asarray(constants.JOINT_LIMITS[:, 1])
    return Solution(
        root_pos=solution.root_pos + step[:, :3],
        root_rot=solution.root_rot @ kinematics.rotvec_to_matrix(step[:, 3:6]),
        joints=jnp.clip(solution.joints + step[:, 6:], lo, hi),
    )


def _frame_cost(lin: Linearization, heading_residual: jax.Array) -> jax.Array:
    """[T] each frame's point and heading cost (the terms that couple no frames)."""
    return jnp.sum(lin.weight2 * lin.residual**2, axis=(1, 2)) + heading_residual**2


def _sole_anchors(solution: Solution, problem: Problem) -> jax.Array:
    """[T, 2, 2] xy anchor of each planted sole: the mean over its planted run (NaN where not planted)."""
    sole_xy = world_points(body_frames(solution))[:, tracked_points().sole, :2]  # [T, 2, 2]
    planted = problem.planted.max(-1) > 0
    starts = planted & ~(jnp.roll(planted, 1, axis=0) & (problem.link[:, None] > 0))
    run = jnp.cumsum(starts, axis=0)  # [T, 2] run ids (per foot)
    num = planted.shape[0] + 1

    def per_foot(xy, run_id, on):
        total = jax.ops.segment_sum(xy * on[:, None], run_id, num_segments=num)
        count = jax.ops.segment_sum(on.astype(xy.dtype), run_id, num_segments=num)
        mean = total / jnp.maximum(count, 1.0)[:, None]
        return jnp.where(on[:, None], mean[run_id], jnp.nan)

    return jax.vmap(per_foot, in_axes=(1, 1, 1), out_axes=1)(sole_xy, run, planted)


@functools.partial(jax.jit, static_argnames=("cg_iterations", "line_search"))
def solve(problem: Problem, init: Solution, weights: Weights, track_iterations: int = 4,
          contact_iterations: int = 3, cg_iterations: int = 8, max_step: float = 1.0,
          line_search: bool = False) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Runs both stages from `init`; returns qpos [T, 36], the points [T, P, 3] (keypoints, soles, corners), the
    robot's centre of mass [T, 3], and its bodies' centres of mass [T, B, 3] and orientations [T, B, 3, 3] (for its
    momentum).

    One loop runs both stages (one compiled step): the sole anchors are taken when the tracking stage ends. The
    iteration counts are traced, so one compilation serves a first solve and a shorter one from its solution.
    """
    step = functools.partial(_gauss_newton_step, problem=problem, weights=weights, cg_iterations=cg_iterations,
                             max_step=max_step, line_search=line_search)

    def body(i, carry):
        solution, anchors = carry
        anchors = jax.lax.cond(i == track_iterations, lambda: _sole_anchors(solution, problem), lambda: anchors)
        return step(solution, anchors=anchors), anchors

    no_anchor = jnp.full(problem.planted.shape[:2] + (2,), jnp.nan)
    solution, _ = jax.lax.fori_loop(0, track_iterations + contact_iterations, body, (init, no_anchor))
    return (to_qpos(solution), *_bodies(body_frames(solution)))


def _bodies(frames: kinematics.Frames) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The points [T, P, 3], centre of mass [T, 3], and bodies' centres of mass [T, B, 3] and orientations
    [T, B, 3, 3] of body frames."""
    tree = kinematics.g1_tree()
    return (world_points(frames), kinematics.center_of_mass(tree, frames), kinematics.body_centers(tree, frames),
            frames.rotation)


def _weight_shapes() -> Weights:
    scalar = jax.ShapeDtypeStruct((), jnp.float32)
    return Weights(
        keypoint=jax.ShapeDtypeStruct((NUM_KEYPOINTS,), jnp.float32), pelvis_orientation=scalar, heading=scalar,
        rest=jax.ShapeDtypeStruct((constants.NUM_JOINTS,), jnp.float32), limit=scalar, limit_margin=scalar,
        velocity=jax.ShapeDtypeStruct((kinematics.TANGENT_SIZE,), jnp.float32),
        acceleration=jax.ShapeDtypeStruct((kinematics.TANGENT_SIZE,), jnp.float32), plant_height=scalar,
        plant_slide=scalar, ground=scalar, swing_level=scalar, damping=scalar, arm_follow=scalar)


@functools.cache
def compiled_solve(length: int, cg_iterations: int, line_search: bool = False) -> jax.stages.Compiled:
    """`solve` compiled for batches of `length` frames, once per process and arguments; call it as
    `compiled(problem, init, weights, track_iterations=np.int32(...), contact_iterations=np.int32(...),
    max_step=np.float32(...))` (float32 arrays; weights, iteration counts and max_step are traced)."""
    problem, init, _ = pack([], length)
    count = np.int32(0)
    return solve.lower(problem, init, _weight_shapes(), track_iterations=count, contact_iterations=count,
                       cg_iterations=cg_iterations, max_step=np.float32(1.0), line_search=line_search).compile()


def bucket_length(num_frames: int, minimum: int = 64) -> int:
    """The padded length for `num_frames`: the smallest of minimum * {1, 1.25, 1.5, 1.75} * 2^k that fits (at most
    25% padding, and few distinct shapes to compile)."""
    size = minimum
    while True:
        for candidate in (size, size * 5 // 4, size * 3 // 2, size * 7 // 4):
            if candidate >= num_frames:
                return candidate
        size *= 2


@dataclasses.dataclass(frozen=True)
class ClipInput:
    """What the solver needs of one clip (numpy, built by the pipeline)."""

    targets: np.ndarray  # [T, K, 3]
    target_valid: np.ndarray  # [K] bool
    pelvis_rotation: np.ndarray  # [T, 3, 3]
    planted: np.ndarray  # [T, 2, 2] bool (foot, heel/toe)
    sole_floor: np.ndarray  # [T, 2] (`contact.swing_floor`)
    fps: float


def pack(clips: list[ClipInput], length: int) -> tuple[Problem, Solution, list[slice]]:
    """Concatenates clips along time, padded to `length` frames (numpy arrays, so packing compiles nothing); returns
    the problem, the initial solution (root on the target pelvis in the human pelvis frame, joints at DEFAULT_POSE)
    and each clip's frame slice."""
    lengths = [len(c.targets) for c in clips]
    if sum(lengths) > length:
        raise ValueError(f"{sum(lengths)} frames do not fit in a batch of {length}")
    slices, start = [], 0
    for n in lengths:
        slices.append(slice(start, start + n))
        start += n
    targets = np.zeros((length, NUM_KEYPOINTS, 3), np.float32)
    target_valid = np.zeros((length, NUM_KEYPOINTS), np.float32)
    pelvis_rotation = np.broadcast_to(np.eye(3, dtype=np.float32), (length, 3, 3)).copy()
    planted = np.zeros((length, 2, 2), np.float32)
    sole_floor = np.zeros((length, 2), np.float32)
    link = np.zeros(length, np.float32)
    valid = np.zeros(length, np.float32)
    fps = np.ones(length, np.float32)
    for clip, frames in zip(clips, slices):
        targets[frames] = clip.targets
        target_valid[frames] = clip.target_valid
        pelvis_rotation[frames] = clip.pelvis_rotation
        planted[frames] = clip.planted
        sole_floor[frames] = clip.sole_floor
        link[frames.start + 1:frames.stop] = 1.0
        valid[frames] = 1.0
        fps[frames] = clip.fps
    problem = Problem(targets, target_valid, pelvis_rotation, planted, sole_floor, link, valid, fps)
    init = Solution(
        root_pos=targets[:, constants.KEYPOINT_INDEX["pelvis"]].copy(),
        root_rot=pelvis_rotation.copy(),
        joints=np.broadcast_to(constants.DEFAULT_POSE.astype(np.float32), (length, constants.NUM_JOINTS)).copy(),
    )
    return problem, init, slices


@jax.jit
def solution_of_qpos(qpos: jax.Array) -> Solution:
    """The solver's variables for a robot trajectory qpos [T, 36] (e.g. to start a solve from a solved batch)."""
    qpos = jnp.asarray(qpos, jnp.float32)
    return Solution(qpos[:, :3], kinematics.quat_to_matrix(qpos[:, 3:7]), qpos[:, 7:])


@jax.jit
def bodies_of_trajectory(qpos: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The points [T, P, 3], centre of mass [T, 3], bodies' centres of mass [T, B, 3] and orientations [T, B, 3, 3] of
    a robot trajectory qpos [T, 36] (as `solve` returns them with its solution)."""
    return _bodies(body_frames(solution_of_qpos(qpos)))


def to_qpos(solution: Solution) -> jax.Array:
    """qpos [T, 36] (root position, wxyz quaternion, joints) of a solution."""
    quat = kinematics.matrix_to_quat(solution.root_rot)
    return jnp.concatenate([solution.root_pos, quat, solution.joints], -1)
