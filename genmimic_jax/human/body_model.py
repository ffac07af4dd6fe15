"""SMPL, SMPL+H and SMPL-X linear blend skinning in JAX.

The body model is a pytree of arrays (`BodyModel`); `forward(model, params)` is a pure function of it and of a
params dict, so it can be jitted, vmapped and differentiated w.r.t. betas, poses and translation. Params may carry
any leading batch shape; entries broadcast against each other (shared betas with per-frame poses are computed once).

Params (axis-angle, radians; missing entries are zero):
  betas [..., B<=num_betas], global_orient [..., 3], body_pose [..., 3 * (num_body_joints - 1)], transl [..., 3],
  SMPL+H / SMPL-X: left_hand_pose, right_hand_pose [..., 45] (full axis-angle, relative to the flat hand, as in
  AMASS; `hand_pose_from_pca` turns PCA coefficients into it), SMPL-X: jaw_pose, leye_pose, reye_pose [..., 3],
  expression [..., E<=num_expression].

Joint counts: SMPL 24 (23 body joints incl. the two hand joints), SMPL+H 52 and SMPL-X 55 (22 body joints,
then jaw and eyes for SMPL-X, then 15 joints per hand, left first). `joints_24` maps any of them to the
canonical SMPL-24 skeleton.

Model files are never shipped (they need a licence): see `third_party/README.md`.
"""

from __future__ import annotations

import pathlib
import zipfile
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from genmimic_jax import files
from genmimic_jax.errors import InputError
from genmimic_jax.human import safe_pickle

MODEL_TYPES = ("smpl", "smplh", "smplx")
GENDERS = ("neutral", "male", "female")
NUM_JOINTS = {"smpl": 24, "smplh": 52, "smplx": 55}
NUM_BODY_JOINTS = {"smpl": 24, "smplh": 22, "smplx": 22}  # incl. the root (global_orient)
NUM_HAND_JOINTS = 15

# Where the SMPL-24 `left_hand` / `right_hand` joints are taken from in SMPL+H / SMPL-X: the first (MCP) joint
# of the middle finger, which is where SMPL's own hand joint sits (the knuckle line, centre of the palm's end).
_MIDDLE1_INDEX = {"smplh": (25, 40), "smplx": (28, 43)}

THIRD_PARTY_HINT = (
    "body model files need a licence and are not shipped: see third_party/README.md "
    "(SMPL: smpl.is.tue.mpg.de, SMPL+H: mano.is.tue.mpg.de, SMPL-X: smpl-x.is.tue.mpg.de)"
)


class BodyModelError(InputError):
    """A missing or malformed body-model file; the message names the file (or folder) and the problem."""


@struct.dataclass
class BodyModel:
    """The arrays of one SMPL-family model (a pytree; static fields describe the kinematic tree).

    Attributes:
      v_template: [V, 3] rest-pose template vertices.
      joint_template: [J, 3] rest joints of the template (the joint regressor applied to `v_template`).
      shapedirs: [B + E, V * 3] shape, then expression (SMPL-X only) blend shapes, one flattened row each.
      joint_shapedirs: [B + E, J * 3] the same blend shapes seen through the joint regressor (it is linear).
      posedirs: [(J - 1) * 9, V * 3] pose blend shapes (smplx layout).
      weights: [V, J] skinning weights.
      faces: [F, 3] int32 triangles.
      hand_components: [2, K, 45] left/right hand PCA bases (K = 0 for SMPL or when the file has none).
      hand_mean: [2, 45] left/right mean hand pose of the PCA space.
      parents: parent joint index per joint (-1 for the root).
      num_betas: B, the number of shape components (rows of `shapedirs` before the expression ones).
      model_type: 'smpl', 'smplh' or 'smplx'.
      gender: 'neutral', 'male' or 'female'.
    """

    v_template: jax.Array
    joint_template: jax.Array
    shapedirs: jax.Array
    joint_shapedirs: jax.Array
    posedirs: jax.Array
    weights: jax.Array
    faces: jax.Array
    hand_components: jax.Array
    hand_mean: jax.Array
    parents: tuple[int, ...] = struct.field(pytree_node=False)
    num_betas: int = struct.field(pytree_node=False)
    model_type: str = struct.field(pytree_node=False)
    gender: str = struct.field(pytree_node=False)

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    @property
    def num_expression(self) -> int:
        return self.shapedirs.shape[0] - self.num_betas


class BodyOutput(NamedTuple):
    """The posed body: `vertices` [..., V, 3], `joints` [..., J, 3], global joint `rotations` [..., J, 3, 3]."""

    vertices: jax.Array
    joints: jax.Array
    rotations: jax.Array


def axis_angle_to_matrix(axis_angle: jax.Array) -> jax.Array:
    """Rodrigues' formula, [..., 3] -> [..., 3, 3]; finite gradients at zero rotation."""
    theta2 = jnp.sum(axis_angle**2, axis=-1)[..., None, None]
    small = theta2 < 1e-8
    safe_theta2 = jnp.where(small, 1.0, theta2)
    theta = jnp.sqrt(safe_theta2)
    sin_term = jnp.where(small, 1.0 - theta2 / 6.0, jnp.sin(theta) / theta)
    cos_term = jnp.where(small, 0.5 - theta2 / 24.0, (1.0 - jnp.cos(theta)) / safe_theta2)
    x, y, z = axis_angle[..., 0], axis_angle[..., 1], axis_angle[..., 2]
    zero = jnp.zeros_like(x)
    skew = jnp.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = jnp.eye(3, dtype=axis_angle.dtype)
    return eye + sin_term * skew + cos_term * (skew @ skew)


def full_pose(model: BodyModel, params: dict[str, jax.Array]) -> jax.Array:
    """All joint rotations as axis-angle, [..., J, 3], in the model's joint order."""
    parts = {
        "global_orient": 3,
        "body_pose": 3 * (NUM_BODY_JOINTS[model.model_type] - 1),
    }
    if model.model_type == "smplx":
        parts.update(jaw_pose=3, leye_pose=3, reye_pose=3)
    if model.model_type in ("smplh", "smplx"):
        parts.update(left_hand_pose=3 * NUM_HAND_JOINTS, right_hand_pose=3 * NUM_HAND_JOINTS)
    batch_shape = _batch_shape(params)
    pieces = []
    for name, size in parts.items():
        value = params.get(name)
        if value is None:
            value = jnp.zeros(batch_shape + (size,), dtype=jnp.float32)
        elif value.shape[-1] != size:
            raise ValueError(f"{model.model_type} param {name!r} must have {size} entries, got shape {value.shape}")
        pieces.append(jnp.broadcast_to(value, batch_shape + (size,)))
    return jnp.concatenate(pieces, axis=-1).reshape(*batch_shape, model.num_joints, 3)


def _batch_shape(params: dict[str, jax.Array]) -> tuple[int, ...]:
    return tuple(jnp.broadcast_shapes(*(jnp.shape(v)[:-1] for v in params.values() if v is not None)))


def shaped_rest(model: BodyModel, params: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """Rest-pose (zero pose) vertices [..., V, 3] and joints [..., J, 3] for the params' betas/expression."""
    vertices, joints = model.v_template, model.joint_template
    components = {"betas": (0, model.num_betas), "expression": (model.num_betas, model.num_expression)}
    for name, (first, available) in components.items():
        coefficients = params.get(name)
        if coefficients is None:
            continue
        if coefficients.shape[-1] > available:
            raise ValueError(
                f"the {model.model_type} model has {available} {name} components, got {coefficients.shape[-1]}"
            )
        rows = slice(first, first + coefficients.shape[-1])
        batch = coefficients.shape[:-1]
        vertices = vertices + (coefficients @ model.shapedirs[rows]).reshape(*batch, -1, 3)
        joints = joints + (coefficients @ model.joint_shapedirs[rows]).reshape(*batch, -1, 3)
    return vertices, joints


def forward(model: BodyModel, params: dict[str, jax.Array]) -> BodyOutput:
    """Poses the body: shape and pose blend shapes, joint regression, forward kinematics and skinning."""
    pose = full_pose(model, params)
    batch_shape = pose.shape[:-2]
    v_shaped, rest_joints = shaped_rest(model, params)
    rest_joints = jnp.broadcast_to(rest_joints, batch_shape + rest_joints.shape[-2:])

    local_rot = axis_angle_to_matrix(pose)  # [..., J, 3, 3]
    eye = jnp.eye(3, dtype=local_rot.dtype)
    pose_feature = (local_rot[..., 1:, :, :] - eye).reshape(*batch_shape, -1)
    v_posed = v_shaped + (pose_feature @ model.posedirs).reshape(*batch_shape, -1, 3)

    rotations, joints = _forward_kinematics(model.parents, local_rot, rest_joints)
    # Skinning transforms [R | t] with t chosen so the rest joints map onto the posed ones, blended per vertex.
    # Vertex-last layouts ([..., 12, V], [..., 3, V]) keep the blend one plain matmul and the rest elementwise.
    offsets = joints - jnp.einsum("...jab,...jb->...ja", rotations, rest_joints)
    transforms = jnp.concatenate([rotations.reshape(*batch_shape, -1, 9), offsets], axis=-1)  # [..., J, 12]
    blended = jnp.einsum("...jk,vj->...kv", transforms, model.weights)  # [..., 12, V]
    points = jnp.swapaxes(v_posed, -1, -2)  # [..., 3, V]
    vertices = jnp.stack(
        [sum(blended[..., 3 * row + col, :] * points[..., col, :] for col in range(3)) + blended[..., 9 + row, :]
         for row in range(3)],
        axis=-1,
    )

    transl = params.get("transl")
    if transl is not None:
        vertices = vertices + transl[..., None, :]
        joints = joints + transl[..., None, :]
    return BodyOutput(vertices=vertices, joints=joints, rotations=rotations)


def _forward_kinematics(
    parents: tuple[int, ...], local_rot: jax.Array, rest_joints: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Global rotations and positions of all joints, one tree depth level at a time."""
    parent_idx = np.asarray(parents)
    rel = rest_joints - rest_joints[..., np.maximum(parent_idx, 0), :]
    rel = rel.at[..., 0, :].set(rest_joints[..., 0, :])
    rotations = jnp.zeros_like(local_rot).at[..., 0, :, :].set(local_rot[..., 0, :, :])
    positions = jnp.zeros_like(rest_joints).at[..., 0, :].set(rel[..., 0, :])
    for joint_idx in _depth_levels(parents)[1:]:
        par = parent_idx[joint_idx]
        par_rot = rotations[..., par, :, :]
        rotations = rotations.at[..., joint_idx, :, :].set(par_rot @ local_rot[..., joint_idx, :, :])
        positions = positions.at[..., joint_idx, :].set(
            jnp.einsum("...ab,...b->...a", par_rot, rel[..., joint_idx, :]) + positions[..., par, :]
        )
    return rotations, positions


def _depth_levels(parents: tuple[int, ...]) -> list[np.ndarray]:
    depth = []
    for parent in parents:
        depth.append(0 if parent < 0 else depth[parent] + 1)
    depth = np.asarray(depth)
    return [np.flatnonzero(depth == d) for d in range(depth.max() + 1)]


def joints_24(model: BodyModel, output: BodyOutput) -> tuple[jax.Array, jax.Array]:
    """Positions [..., 24, 3] and global rotations [..., 24, 3, 3] of the canonical SMPL-24 joints.

    SMPL: its own 24 joints. SMPL+H / SMPL-X: the 22 body joints, then the middle finger's first (MCP) joint of
    each hand as `left_hand` / `right_hand`, which is where SMPL's hand joint sits.
    """
    if model.model_type == "smpl":
        index = np.arange(24)
    else:
        index = np.concatenate([np.arange(22), np.asarray(_MIDDLE1_INDEX[model.model_type])])
    return output.joints[..., index, :], output.rotations[..., index, :, :]


def hand_pose_from_pca(
    model: BodyModel, coefficients: jax.Array, side: str, flat_hand_mean: bool = False
) -> jax.Array:
    """Axis-angle hand pose [..., 45] (relative to the flat hand) from K PCA coefficients [..., K].

    With `flat_hand_mean=False` (the smplx package's default) the PCA space's mean hand pose is added.
    """
    if model.hand_components.shape[1] == 0:
        raise ValueError(f"the {model.model_type} model has no hand PCA components")
    hand = {"left": 0, "right": 1}[side]
    pose = coefficients @ model.hand_components[hand, : coefficients.shape[-1]]
    return pose if flat_hand_mean else pose + model.hand_mean[hand]


# ---------------------------------------------------------------------------------------------------------------
# Loading model files.


def model_file_candidates(model_dir: pathlib.Path, model_type: str, gender: str) -> list[pathlib.Path]:
    """Where `load_body_model` looks inside a folder, in order (official names and the smplx package layout)."""
    upper = {"smpl": "SMPL", "smplh": "SMPLH", "smplx": "SMPLX"}[model_type]
    names = [f"{upper}_{gender.upper()}.npz", f"{upper}_{gender.upper()}.pkl"]
    if model_type == "smpl":
        short = {"neutral": "neutral", "male": "m", "female": "f"}[gender]
        names += [
            f"basicmodel_{short}_lbs_10_207_0_v1.1.0.pkl",
            f"basicModel_{short}_lbs_10_207_0_v1.0.0.pkl",
            f"basicmodel_{short}_lbs_10_207_0_v1.0.0.pkl",
        ]
    if model_type == "smplh":
        names.append(f"{gender}/model.npz")  # the extended SMPL+H release used by AMASS
    if model_type == "smplx":
        names.append(f"{upper}_{gender.upper()}_2020.npz")
    return [folder / name for folder in (model_dir / model_type, model_dir) for name in names]


def load_body_model(
    model_dir_or_file: str | pathlib.Path,
    model_type: str = "smpl",
    gender: str = "neutral",
) -> BodyModel:
    """Reads an official SMPL / SMPL+H / SMPL-X model file (`.npz`, or `.pkl` through the restricted unpickler).

    Args:
      model_dir_or_file: a model file, or a folder holding the files either directly or in a `<model_type>/`
        subfolder (the smplx package layout), e.g. `models/smplx/SMPLX_NEUTRAL.npz`.
      model_type: 'smpl', 'smplh' or 'smplx'.
      gender: 'neutral', 'male' or 'female'.

    Raises:
      BodyModelError: the file is missing (the message lists where it looked) or malformed.
    """
    if model_type not in MODEL_TYPES:
        raise BodyModelError(f"unknown model_type {model_type!r}; expected one of {MODEL_TYPES}")
    if gender not in GENDERS:
        raise BodyModelError(f"unknown gender {gender!r}; expected one of {GENDERS}")
    path = pathlib.Path(model_dir_or_file).expanduser()
    if path.is_dir():
        candidates = model_file_candidates(path, model_type, gender)
        found = [c for c in candidates if c.is_file()]
        if not found:
            tried = ", ".join(str(c.relative_to(path)) for c in candidates)
            raise BodyModelError(
                f"{path}: no {gender} {model_type} model file (looked for {tried}); {THIRD_PARTY_HINT}"
            )
        path = found[0]
    elif not path.is_file():
        raise BodyModelError(f"{path}: no such body model file or folder; {THIRD_PARTY_HINT}")
    return from_arrays(_read_model_arrays(path), model_type, gender, source=str(path))


_REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
_OPTIONAL_KEYS = ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr")


def _read_model_arrays(path: pathlib.Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        try:
            with files.open_npz(path, BodyModelError) as data:
                return {k: data[k] for k in _REQUIRED_KEYS + _OPTIONAL_KEYS if k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise BodyModelError(f"{path}: not a readable model .npz ({err})") from err
    if path.suffix == ".pkl":
        try:
            data = safe_pickle.load(path)
        except safe_pickle.UnsafePickleError as err:
            raise BodyModelError(str(err)) from err
        if not isinstance(data, dict):
            raise BodyModelError(f"{path}: expected a dict of model arrays, got {type(data).__name__}")
        arrays = {}
        for key in _REQUIRED_KEYS + _OPTIONAL_KEYS:
            if key in data:
                value = data[key]
                arrays[key] = value.toarray() if hasattr(value, "toarray") else np.asarray(value)
        return arrays
    raise BodyModelError(f"{path}: unsupported model file type {path.suffix!r} (expected .npz or .pkl)")


def from_arrays(
    arrays: dict[str, np.ndarray], model_type: str, gender: str = "neutral", source: str = "<arrays>"
) -> BodyModel:
    """A `BodyModel` from arrays under the official model-file keys (`v_template`, `shapedirs`, `posedirs`,
    `J_regressor`, `weights`, `kintree_table`, `f`, optional `hands_components{l,r}`, `hands_mean{l,r}`)."""
    path = source
    missing = [k for k in _REQUIRED_KEYS if k not in arrays]
    if missing:
        raise BodyModelError(f"{path}: missing model key(s) {missing}")
    num_joints = NUM_JOINTS[model_type]
    v_template = _as_float(path, "v_template", arrays["v_template"])
    num_verts = v_template.shape[0]
    shapedirs = _as_float(path, "shapedirs", arrays["shapedirs"])
    if shapedirs.ndim == 2:
        shapedirs = shapedirs[..., None]
    posedirs = _as_float(path, "posedirs", arrays["posedirs"])
    j_regressor = _as_float(path, "J_regressor", arrays["J_regressor"])
    weights = _as_float(path, "weights", arrays["weights"])
    kintree = np.asarray(arrays["kintree_table"])
    faces = np.asarray(arrays["f"])
    expected = {
        "v_template": (v_template, (num_verts, 3)),
        "shapedirs": (shapedirs, (num_verts, 3, shapedirs.shape[-1])),
        "posedirs": (posedirs, (num_verts, 3, (num_joints - 1) * 9)),
        "J_regressor": (j_regressor, (num_joints, num_verts)),
        "weights": (weights, (num_verts, num_joints)),
        "kintree_table": (kintree, (2, num_joints)),
        "f": (faces, (faces.shape[0], 3)),
    }
    for key, (value, shape) in expected.items():
        if value.shape != shape:
            raise BodyModelError(
                f"{path}: {key} has shape {value.shape}, expected {shape} for a {num_joints}-joint {model_type} model"
            )
    parents = tuple(int(p) for p in kintree[0].astype(np.int64))
    parents = (-1,) + parents[1:]
    if any(not 0 <= p < j for j, p in enumerate(parents) if j):
        raise BodyModelError(f"{path}: kintree_table is not a tree listing parents before children")
    if faces.size and (faces.min() < 0 or faces.max() >= num_verts):
        raise BodyModelError(f"{path}: f indexes vertices outside [0, {num_verts})")

    # The smplx package's split of SMPL-X shape space: 300 shape + 100 expression, or 10 + 10 in older files.
    num_betas = shapedirs.shape[-1]
    if model_type == "smplx":
        num_betas = 300 if shapedirs.shape[-1] >= 400 else min(10, shapedirs.shape[-1])
        shapedirs = shapedirs[..., : num_betas + (100 if num_betas == 300 else 10)]
    joint_shapedirs = np.tensordot(j_regressor.astype(np.float64), shapedirs, axes=(1, 0)).transpose(2, 0, 1)

    hand_components = np.zeros((2, 0, 45), np.float32)
    hand_mean = np.zeros((2, 45), np.float32)
    if model_type != "smpl" and all(k in arrays for k in _OPTIONAL_KEYS):
        left = _as_float(path, "hands_componentsl", arrays["hands_componentsl"])
        right = _as_float(path, "hands_componentsr", arrays["hands_componentsr"])
        if left.shape != right.shape or left.ndim != 2 or left.shape[1] != 45:
            raise BodyModelError(f"{path}: hands_componentsl/r must both be [K, 45], got {left.shape}/{right.shape}")
        hand_components = np.stack([left, right])
        hand_mean = np.stack([
            _as_float(path, "hands_meanl", arrays["hands_meanl"]).reshape(45),
            _as_float(path, "hands_meanr", arrays["hands_meanr"]).reshape(45),
        ])

    return BodyModel(
        v_template=jnp.asarray(v_template),
        joint_template=jnp.asarray(j_regressor.astype(np.float64) @ v_template, dtype=jnp.float32),
        shapedirs=jnp.asarray(shapedirs.reshape(num_verts * 3, -1).T),
        joint_shapedirs=jnp.asarray(joint_shapedirs.reshape(shapedirs.shape[-1], -1), dtype=jnp.float32),
        posedirs=jnp.asarray(posedirs.reshape(-1, posedirs.shape[-1]).T),
        weights=jnp.asarray(weights),
        faces=jnp.asarray(faces.astype(np.int32)),
        hand_components=jnp.asarray(hand_components),
        hand_mean=jnp.asarray(hand_mean),
        parents=parents,
        num_betas=num_betas,
        model_type=model_type,
        gender=gender,
    )


def _as_float(path, key: str, value) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise BodyModelError(f"{path}: {key} is not numeric ({err})") from err
    if not np.all(np.isfinite(array)):
        raise BodyModelError(f"{path}: {key} contains NaN or inf")
    return array
