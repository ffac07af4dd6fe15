"""Synthetic SMPL / SMPL+H / SMPL-X model files in the official formats, for tests and benchmarks.

The real model files need a licence. These have the official keys, array layouts and joint counts (24 / 52 / 55)
with a human-like rest skeleton (y-up, facing +z, left = +x, metres, like SMPL's template), and random but sane
vertices, blend shapes and skinning weights. Each joint owns a cluster of vertices centred on it, and the joint
regressor averages that cluster, so the regressed rest joints equal the designed skeleton.
"""

from __future__ import annotations

import io
import pathlib
import pickle

import numpy as np
import scipy.sparse

from genmimic_jax import files
from genmimic_jax.human.body_model import NUM_JOINTS

# SMPL-24 rest joints (x left, y up, z forward), close to SMPL's neutral template.
_BODY_REST = np.array([
    [0.0, -0.24, 0.03], [0.06, -0.33, 0.02], [-0.06, -0.33, 0.02], [0.0, -0.13, 0.0],
    [0.10, -0.70, 0.01], [-0.10, -0.70, 0.01], [0.0, 0.01, 0.03], [0.09, -1.10, -0.03],
    [-0.09, -1.10, -0.03], [0.0, 0.06, 0.03], [0.12, -1.16, 0.09], [-0.12, -1.16, 0.09],
    [0.0, 0.27, 0.0], [0.08, 0.17, 0.0], [-0.08, 0.17, 0.0], [0.0, 0.36, 0.05],
    [0.19, 0.21, -0.01], [-0.19, 0.21, -0.01], [0.45, 0.20, -0.03], [-0.45, 0.20, -0.03],
    [0.71, 0.21, -0.03], [-0.71, 0.21, -0.03], [0.79, 0.20, -0.04], [-0.79, 0.20, -0.04],
])
_SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
# Finger bases relative to the left wrist, in the SMPL+H / SMPL-X order: index, middle, pinky, ring, thumb.
_FINGER_BASES = np.array([[0.08, 0.0, 0.025], [0.085, 0.0, 0.0], [0.07, -0.01, -0.04], [0.08, 0.0, -0.02],
                          [0.03, -0.01, 0.03]])
_FINGER_STEPS = np.array([[0.03, 0.0, 0.0]] * 4 + [[0.025, 0.0, 0.015]])


def rest_skeleton(model_type: str) -> tuple[np.ndarray, list[int]]:
    """Designed rest joint positions [J, 3] and parents [J] for 'smpl', 'smplh' or 'smplx'."""
    if model_type == "smpl":
        return _BODY_REST.copy(), list(_SMPL_PARENTS)
    joints = [*_BODY_REST[:22]]
    parents = list(_SMPL_PARENTS[:22])
    if model_type == "smplx":  # jaw, left eye, right eye
        joints += [np.array([0.0, 0.33, 0.06]), np.array([0.03, 0.40, 0.09]), np.array([-0.03, 0.40, 0.09])]
        parents += [15, 15, 15]
    for wrist in (20, 21):
        mirror = np.array([1.0 if wrist == 20 else -1.0, 1.0, 1.0])
        for base, step in zip(_FINGER_BASES, _FINGER_STEPS):
            for phalanx in range(3):
                parents.append(wrist if phalanx == 0 else len(joints) - 1)
                joints.append(_BODY_REST[wrist] + mirror * (base + phalanx * step))
    return np.asarray(joints), parents


def make_model_arrays(
    model_type: str,
    num_verts: int = 300,
    num_shape: int = 10,
    num_expression: int = 10,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Random model arrays under the official keys (float64, as in the released files).

    `num_shape` shape components (for SMPL-X, `num_shape + num_expression` components are stored in `shapedirs`,
    which the loaders split as 10 + 10 below 400 components and 300 + 100 otherwise).
    """
    rng = np.random.default_rng(seed)
    rest, parents = rest_skeleton(model_type)
    num_joints = NUM_JOINTS[model_type]
    owner = np.arange(num_verts) % num_joints
    offsets = rng.normal(scale=0.03, size=(num_verts, 3))
    for joint in range(num_joints):  # centre each cluster on its joint so the regressor returns the joint
        members = owner == joint
        offsets[members] -= offsets[members].mean(axis=0)
    v_template = rest[owner] + offsets

    j_regressor = np.zeros((num_joints, num_verts))
    j_regressor[owner, np.arange(num_verts)] = 1.0
    j_regressor /= j_regressor.sum(axis=1, keepdims=True)

    weights = np.zeros((num_verts, num_joints))
    own = rng.uniform(0.6, 1.0, size=num_verts)
    parent_of_owner = np.asarray(parents)[owner]
    weights[np.arange(num_verts), owner] = np.where(parent_of_owner < 0, 1.0, own)
    has_parent = parent_of_owner >= 0
    weights[np.flatnonzero(has_parent), parent_of_owner[has_parent]] += 1.0 - own[has_parent]

    num_components = num_shape + (num_expression if model_type == "smplx" else 0)
    arrays = {
        "v_template": v_template,
        "shapedirs": rng.normal(scale=0.01, size=(num_verts, 3, num_components)),
        "posedirs": rng.normal(scale=0.002, size=(num_verts, 3, (num_joints - 1) * 9)),
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": np.stack([np.where(np.asarray(parents) < 0, 2**32 - 1, parents), np.arange(num_joints)])
        .astype(np.int64 if model_type == "smplx" else np.uint32),
        "f": rng.integers(0, num_verts, size=(2 * num_verts, 3)).astype(np.uint32),
    }
    if model_type in ("smplh", "smplx"):
        for side in "lr":
            arrays[f"hands_components{side}"] = np.linalg.qr(rng.normal(size=(45, 45)))[0]
            arrays[f"hands_mean{side}"] = rng.normal(scale=0.1, size=45)
    if model_type == "smplx":
        faces = arrays["f"].shape[0]
        arrays["lmk_faces_idx"] = rng.integers(0, faces, size=51)
        arrays["lmk_bary_coords"] = rng.dirichlet(np.ones(3), size=51)
        arrays["dynamic_lmk_faces_idx"] = rng.integers(0, faces, size=(79, 17))
        arrays["dynamic_lmk_bary_coords"] = rng.dirichlet(np.ones(3), size=(79, 17))
    return arrays


class _ChumpyCh:
    """Pickles as chumpy's `chumpy.ch.Ch` (as in the official SMPL .pkl) without chumpy being installed."""

    def __init__(self, x: np.ndarray):
        self.__dict__.update(x=x, _dirty_vars=set(), _itr=None, _depends_on_deps={}, _make_dense=False,
                             _make_sparse=False)


class _Py2Pickler(pickle._Pickler):  # pure-Python pickler: its save_global can name a class that is not importable
    def save_global(self, obj, name=None):
        if obj is _ChumpyCh:
            self.write(pickle.GLOBAL + b"chumpy.ch\nCh\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def write_smpl_pkl(path: str | pathlib.Path, model_type: str = "smpl", chumpy: bool = False, **kwargs) -> None:
    """Writes an SMPL / SMPL+H `.pkl` like the official release: a protocol-2 pickled dict, `J_regressor` as a
    scipy CSC matrix and, with `chumpy=True`, `shapedirs` as a chumpy `Ch` object (the smplx package cannot
    load that variant without chumpy). `kwargs` go to `make_model_arrays`."""
    arrays = make_model_arrays(model_type, **kwargs)
    data: dict[str, object] = dict(arrays)
    data["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
    data["bs_style"] = "lbs"
    data["bs_type"] = "lrotmin"
    if chumpy:
        data["shapedirs"] = _ChumpyCh(arrays["shapedirs"])
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(data)
    files.write_atomic(path, lambda file: file.write(buffer.getvalue()), "pickle")


def write_model_npz(path: str | pathlib.Path, model_type: str = "smplx", **kwargs) -> None:
    """Writes an SMPL-X (or SMPL+H / SMPL) `.npz` with the official keys; `kwargs` go to `make_model_arrays`."""
    buffer = io.BytesIO()
    np.savez(buffer, **make_model_arrays(model_type, **kwargs))
    files.write_atomic(path, lambda file: file.write(buffer.getvalue()), "body_model")
