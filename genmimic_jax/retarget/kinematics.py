"""Forward kinematics and point Jacobians of the G1 in JAX, over the MjModel's body tree.

The tree is read once from a `mujoco.MjModel` (body offsets, body quaternions, hinge axes, parents); `forward`
then walks it in body order, batched over any leading axes. Positions match MuJoCo's `mj_kinematics`.

Tangent convention for Jacobians and solver steps (35 numbers, like MuJoCo's qvel): root translation in world
coordinates, root rotation as a local (body-frame) rotation vector, then the 29 hinge angles.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

TANGENT_SIZE = 6 + constants.NUM_JOINTS


@dataclasses.dataclass(frozen=True, eq=False)
class KinematicTree:
    """Static arrays of a free-floating tree of hinge joints (index 0 is the root body, world excluded).

    Attributes:
      body_names: the bodies, parents before children.
      parent: [B] parent body index (-1 for the root).
      offset: [B, 3] body position in its parent's frame.
      rotation: [B, 3, 3] body orientation in its parent's frame.
      joint: [B] joint index (into the 29 hinges) of the body's hinge, -1 for the root.
      axis: [29, 3] hinge axes in their body's frame.
      ancestors: [B, 29] True where the hinge moves the body (the body's own hinge or an ancestor's).
      site_names: the model's site names.
      site_body: [S] body index of each site.
      site_offset: [S, 3] site position in its body's frame.
      body_mass: [B] body masses (kg).
      body_com: [B, 3] body centres of mass in their bodies' frames.
      body_inertia: [B, 3, 3] body inertia tensors about their centres of mass, in their bodies' frames.
    """

    body_names: tuple[str, ...]
    parent: np.ndarray
    offset: np.ndarray
    rotation: np.ndarray
    joint: np.ndarray
    axis: np.ndarray
    ancestors: np.ndarray
    site_names: tuple[str, ...]
    site_body: np.ndarray
    site_offset: np.ndarray
    body_mass: np.ndarray
    body_com: np.ndarray
    body_inertia: np.ndarray

    @property
    def joint_body(self) -> np.ndarray:
        """[29] the body each hinge moves."""
        return np.array([list(self.joint).index(j) for j in range(len(self.axis))])

    def site_index(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        return np.array([self.site_names.index(n) for n in names])


def quat_to_matrix(quat: jax.Array) -> jax.Array:
    """Rotation matrices [..., 3, 3] of wxyz quaternions [..., 4] (normalised first)."""
    w, x, y, z = jnp.moveaxis(quat / jnp.linalg.norm(quat, axis=-1, keepdims=True), -1, 0)
    return jnp.stack([
        jnp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        jnp.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        jnp.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quat(matrix: jax.Array) -> jax.Array:
    """wxyz quaternions [..., 4] (w >= 0) of rotation matrices [..., 3, 3]; robust branch-free form."""
    m = matrix
    trace_terms = jnp.stack([
        1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
        1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
        1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
        1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
    ], -1)
    candidates = jnp.stack([
        jnp.stack([trace_terms[..., 0], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                   m[..., 1, 0] - m[..., 0, 1]], -1),
        jnp.stack([m[..., 2, 1] - m[..., 1, 2], trace_terms[..., 1], m[..., 1, 0] + m[..., 0, 1],
                   m[..., 0, 2] + m[..., 2, 0]], -1),
        jnp.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], trace_terms[..., 2],
                   m[..., 2, 1] + m[..., 1, 2]], -1),
        jnp.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2],
                   trace_terms[..., 3]], -1),
    ], -2)
    best = jnp.argmax(trace_terms, axis=-1)
    quat = jnp.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    quat = quat / jnp.linalg.norm(quat, axis=-1, keepdims=True)
    return quat * jnp.where(quat[..., :1] < 0, -1.0, 1.0)


def axis_angle_to_matrix(axis: jax.Array, angle: jax.Array) -> jax.Array:
    """Rodrigues' formula: rotations [..., 3, 3] about unit `axis` [..., 3] by `angle` [...]."""
    zero = jnp.zeros_like(axis[..., 0])
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    skew = jnp.stack([jnp.stack([zero, -z, y], -1), jnp.stack([z, zero, -x], -1), jnp.stack([-y, x, zero], -1)], -2)
    s, c = jnp.sin(angle)[..., None, None], jnp.cos(angle)[..., None, None]
    return jnp.eye(3) + s * skew + (1 - c) * (skew @ skew)


def rotvec_to_matrix(rotvec: jax.Array) -> jax.Array:
    """Rotation matrices [..., 3, 3] of rotation vectors [..., 3] (safe at zero)."""
    angle = jnp.linalg.norm(rotvec, axis=-1)
    safe = jnp.where(angle > 1e-8, angle, 1.0)
    axis = jnp.where((angle > 1e-8)[..., None], rotvec / safe[..., None], jnp.array([1.0, 0.0, 0.0]))
    return axis_angle_to_matrix(axis, angle)


def matrix_to_rotvec(matrix: jax.Array) -> jax.Array:
    """Rotation vectors [..., 3] of rotation matrices [..., 3, 3] (via the quaternion, so safe near pi)."""
    quat = matrix_to_quat(matrix)
    sin_half = jnp.linalg.norm(quat[..., 1:], axis=-1)
    angle = 2 * jnp.arctan2(sin_half, quat[..., 0])
    scale = jnp.where(sin_half > 1e-8, angle / jnp.where(sin_half > 1e-8, sin_half, 1.0), 2.0)
    return quat[..., 1:] * scale[..., None]


def build_tree(model: mujoco.MjModel | None = None) -> KinematicTree:
    """Reads the G1 body tree from a MuJoCo model (default: the project's G1)."""
    model = g1_model.load_model(scene=False) if model is None else model
    bodies = range(1, model.nbody)  # skip the world body
    root_joint = model.body_jntadr[1]
    if model.jnt_type[root_joint] != mujoco.mjtJoint.mjJNT_FREE:
        raise ValueError("the first body must carry a free joint")
    joint = np.full(model.nbody - 1, -1)
    for b in bodies:
        if b == 1:
            continue
        if model.body_jntnum[b] != 1 or model.jnt_type[model.body_jntadr[b]] != mujoco.mjtJoint.mjJNT_HINGE:
            raise ValueError(f"body {model.body(b).name} must have exactly one hinge joint")
        jnt = model.body_jntadr[b]
        if np.any(model.jnt_pos[jnt] != 0):
            raise ValueError(f"hinge {model.joint(jnt).name} is not at its body's origin")
        joint[b - 1] = model.jnt_qposadr[jnt] - 7
    axis = np.zeros((constants.NUM_JOINTS, 3))
    for b in bodies:
        if joint[b - 1] >= 0:
            axis[joint[b - 1]] = model.jnt_axis[model.body_jntadr[b]]
    parent = model.body_parentid[1:] - 1
    ancestors = np.zeros((model.nbody - 1, constants.NUM_JOINTS), bool)
    for b in range(model.nbody - 1):
        if joint[b] >= 0:
            ancestors[b] = ancestors[parent[b]]
            ancestors[b, joint[b]] = True
    rotation = np.stack([_quat_np(q) for q in model.body_quat[1:]])
    principal = np.stack([_quat_np(q) for q in model.body_iquat[1:]])  # the inertia's principal axes
    inertia = principal @ (model.body_inertia[1:, :, None] * np.swapaxes(principal, -1, -2))
    return KinematicTree(
        body_names=tuple(model.body(b).name for b in bodies),
        parent=parent,
        offset=model.body_pos[1:].astype(np.float32),
        rotation=rotation.astype(np.float32),
        joint=joint,
        axis=axis.astype(np.float32),
        ancestors=ancestors,
        site_names=tuple(model.site(s).name for s in range(model.nsite)),
        site_body=model.site_bodyid - 1,
        site_offset=model.site_pos.astype(np.float32),
        body_mass=model.body_mass[1:].astype(np.float32),
        body_com=model.body_ipos[1:].astype(np.float32),
        body_inertia=inertia.astype(np.float32),
    )


def _quat_np(quat: np.ndarray) -> np.ndarray:
    matrix = np.zeros(9)
    mujoco.mju_quat2Mat(matrix, quat)
    return matrix.reshape(3, 3)


@functools.cache
def g1_tree() -> KinematicTree:
    """The project's G1 tree (built once)."""
    return build_tree()


@dataclasses.dataclass(frozen=True)
class Frames:
    """World poses of all bodies: `rotation` [..., B, 3, 3] and `position` [..., B, 3]."""

    rotation: jax.Array
    position: jax.Array


jax.tree_util.register_dataclass(Frames, data_fields=["rotation", "position"], meta_fields=[])


def matmul3(a: jax.Array, b: jax.Array) -> jax.Array:
    """a @ b for small matrices as broadcast products (XLA on CPU runs tiny batched dots slowly)."""
    return jnp.sum(a[..., :, :, None] * b[..., None, :, :], axis=-2)


def matvec3(a: jax.Array, v: jax.Array) -> jax.Array:
    """a @ v for small matrices as broadcast products."""
    return jnp.sum(a * v[..., None, :], axis=-1)


def forward(tree: KinematicTree, root_pos: jax.Array, root_rot: jax.Array, joints: jax.Array) -> Frames:
    """Body world poses from root position [..., 3], root rotation matrix [..., 3, 3] and hinge angles [..., 29]."""
    local = matmul3(jnp.asarray(tree.rotation[tree.joint_body]), axis_angle_to_matrix(jnp.asarray(tree.axis), joints))
    rotations, positions = [root_rot], [root_pos]
    for b in range(1, len(tree.parent)):
        p = tree.parent[b]
        positions.append(positions[p] + matvec3(rotations[p], jnp.asarray(tree.offset[b])))
        rotations.append(matmul3(rotations[p], local[..., tree.joint[b], :, :]))
    return Frames(rotation=jnp.stack(rotations, -3), position=jnp.stack(positions, -2))


def points(frames: Frames, body: np.ndarray, offset: jax.Array) -> jax.Array:
    """World positions [..., P, 3] of points fixed at `offset` [P, 3] in bodies `body` [P]."""
    return frames.position[..., body, :] + matvec3(frames.rotation[..., body, :, :], jnp.asarray(offset))


def sites(tree: KinematicTree, frames: Frames, site_ids: np.ndarray) -> jax.Array:
    """World positions [..., S, 3] of the given sites."""
    return points(frames, tree.site_body[site_ids], tree.site_offset[site_ids])


def body_centers(tree: KinematicTree, frames: Frames) -> jax.Array:
    """World centres of mass [..., B, 3] of the bodies."""
    return points(frames, np.arange(len(tree.parent)), tree.body_com)


def center_of_mass(tree: KinematicTree, frames: Frames) -> jax.Array:
    """World centre of mass [..., 3] of the whole robot."""
    body_com = body_centers(tree, frames)
    return jnp.sum(body_com * jnp.asarray(tree.body_mass)[:, None], -2) / float(tree.body_mass.sum())


def rotation_axes(tree: KinematicTree, frames: Frames) -> tuple[jax.Array, jax.Array]:
    """World axes and anchors [..., 32, 3] of the rotational tangent directions: the root's x, y, z axes through
    the root origin, then the 29 hinges."""
    joint_body = tree.joint_body
    hinge_axes = matvec3(frames.rotation[..., joint_body, :, :], jnp.asarray(tree.axis))
    root_axes = jnp.swapaxes(frames.rotation[..., 0, :, :], -1, -2)  # rows: the root's x, y, z axes in world
    axes = jnp.concatenate([root_axes, hinge_axes], -2)
    anchors = jnp.concatenate([jnp.repeat(frames.position[..., :1, :], 3, -2), frames.position[..., joint_body, :]], -2)
    return axes, anchors


def rotation_moves(tree: KinematicTree, body: np.ndarray) -> np.ndarray:
    """[P, 32] True where rotational tangent direction c moves a point fixed in body `body[p]`."""
    return np.concatenate([np.ones((len(body), 3), bool), tree.ancestors[body]], -1)


def point_jacobian(tree: KinematicTree, frames: Frames, body: np.ndarray, world_points: jax.Array) -> jax.Array:
    """d(world point)/d(tangent) [..., P, 3, 35] for points [..., P, 3] fixed in bodies `body` [P].

    Root rotation columns act like hinges about the root's own axes through the root origin.
    """
    axes, anchors = rotation_axes(tree, frames)
    lever = world_points[..., :, None, :] - anchors[..., None, :, :]  # [..., P, 32, 3]
    angular = jnp.cross(jnp.broadcast_to(axes[..., None, :, :], lever.shape), lever)
    angular = angular * rotation_moves(tree, body)[:, :, None]
    linear = jnp.broadcast_to(jnp.eye(3), world_points.shape[:-1] + (3, 3))  # [..., P, 3(xyz), 3(dof)]
    return jnp.concatenate([linear, jnp.swapaxes(angular, -1, -2)], -1)
