"""SMPL / SMPL+H / SMPL-X parameter files (AMASS, GVHMR, TRAM, WHAM) to a canonical `HumanMotion`.

Every source is posed with the JAX body model (`body_model.py`; model files from `model_dir`, see
`third_party/README.md`), then turned to the z-up world and put on the floor: the lowest mesh vertex over the
whole clip sits at z = 0. Shape: per-frame betas (lifters) are averaged into one subject shape; betas beyond the
model file's shape components are dropped. The returned
motion carries positions (the 24 SMPL joints, `body_model.joints_24`), global joint orientations (wxyz), subject
height (the rest-pose mesh's extent along the template's up axis) and `smpl_params` that reproduce the returned
positions in the z-up world: `betas` [B], `global_orient` [T, 3], `body_pose` [T, 3 * (body joints - 1)],
`transl` [T, 3], for SMPL+H / SMPL-X also `left_hand_pose`, `right_hand_pose` [T, 45] (and SMPL-X `jaw_pose`,
`leye_pose`, `reye_pose` [T, 3], `expression` [E]), plus `model_type` and `gender` (string arrays).

Keys read, per source (anything else in the file is ignored):
- AMASS `.npz` (z-up world already): `poses` [T, 72 | 156 | 165] (SMPL | SMPL+H | SMPL-X axis-angle, model type
  from the width, or from `surface_model_type` when present), `trans` [T, 3], `betas` [>=10], `gender`,
  `mocap_framerate` or `mocap_frame_rate`. SMPL-X AMASS files without `poses` are read from `root_orient` [T, 3],
  `pose_body` [T, 63], `pose_hand` [T, 90], `pose_jaw` [T, 3], `pose_eye` [T, 6].
- GVHMR `hmr4d_results.pt` (torch file, read with `torch.load(weights_only=True)`, needs torch): the dict
  `smpl_params_global` with `global_orient` [T, 3], `body_pose` [T, 63], `transl` [T, 3], `betas` [T, 10];
  SMPL-X, neutral; gravity-aligned y-up world.
- TRAM `hps/hps_track_<i>.npy` (a pickled dict, read through the restricted unpickler; its torch tensors need
  torch): `pred_rotmat` [T, 24, 3, 3], `pred_shape` [T, 10], `pred_trans` [T, 1, 3] or [T, 3], `frame` [T]; the
  same keys in an `.npz` also work. These are in the camera frame: with `camera.npy` (TRAM's
  `estimate_camera.py` output; `world_cam_R` [N, 3, 3], `world_cam_T` [N, 3], indexed by `frame`) found next to
  the track file or one folder up, or given as `camera`, the motion is put in TRAM's gravity-aligned y-up world;
  without it the camera frame (y down, z forward) is used as if the camera were level. SMPL, neutral.
- WHAM `wham_output.pkl` (`joblib.dump` of {track id: dict}; read through the restricted unpickler, joblib not
  needed): `pose_world` [T, 72], `trans_world` [T, 3], `betas` [T, 10], `frame_ids` (or `frame_id`) [T]; y-up
  world (WHAM runs with `return_y_up=True`). SMPL, neutral. A file with the camera-frame `pose`/`trans` only is
  refused (no world trajectory).

Lifter files hold no frame rate: pass the video's `fps` (default 30). Tracks must cover consecutive frames; the
longest track is taken unless `track` names one.
"""

from __future__ import annotations

import os
import pathlib
import zipfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation

from genmimic_jax import files
from genmimic_jax.human import body_model as bm
from genmimic_jax.human import safe_pickle
from genmimic_jax.human.motion import HumanMotion, MotionFormatError, validate

MODEL_DIR_ENV = "GENMIMIC_BODY_MODELS"
DEFAULT_LIFTER_FPS = 30.0
# +90 degrees about x: a y-up world to the z-up world (y -> z, z -> -y).
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# A camera frame (x right, y down, z forward) to a y-up frame, as TRAM's own gravity frame does.
CAMERA_TO_Y_UP = np.diag([1.0, -1.0, -1.0])
_CHUNK = 128  # frames per body-model call (a fixed size: one compilation per model)
_POSE_WIDTH_TO_MODEL = {72: "smpl", 156: "smplh", 165: "smplx"}


def load_smpl_motion(
    path: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    *,
    model_type: str | None = None,
    gender: str | None = None,
    fps: float | None = None,
    track: Any = None,
    camera: str | os.PathLike | None = None,
) -> HumanMotion:
    """Loads an AMASS / GVHMR / TRAM / WHAM SMPL-parameter file (see the module docstring for the keys).

    Args:
      path: the file (`.npz`, `.npy`, `.pt`/`.pth`, `.pkl`).
      model_dir: body model file or folder (`body_model.load_body_model`); default: $GENMIMIC_BODY_MODELS.
      model_type: override the source's model type ('smpl', 'smplh', 'smplx'); the 22 shared body joints are
        kept, other joints left at rest. Betas are not interchangeable between SMPL(+H) and SMPL-X.
      gender: override the gender stored in the file (lifters: neutral).
      fps: frame rate of lifter results (default 30); must match the file's rate for AMASS when given.
      track: WHAM track id, when the file holds several; default: the longest track.
      camera: TRAM `camera.npy` path (default: looked up next to the track file).

    Raises:
      MotionFormatError: one line naming the file and the problem (missing key, bad shape, NaN, ...).
      body_model.BodyModelError: the body model files are missing.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise MotionFormatError(f"{path}: no such file")
    suffix = path.suffix.lower()
    lifter_fps = DEFAULT_LIFTER_FPS if fps is None else float(fps)
    if not (np.isfinite(lifter_fps) and lifter_fps > 0):
        raise MotionFormatError(f"{path}: fps must be a positive number, got {fps}")
    if suffix == ".npz":
        data = _read_npz(path)
        if "pred_rotmat" in data:
            source = dict(_tram_params(path, data, camera), fps=lifter_fps)
        else:
            source = _amass_params(path, data, fps)
    elif suffix == ".npy":
        source = dict(_tram_params(path, _read_pickled_npy(path), camera), fps=lifter_fps)
    elif suffix in (".pt", ".pth"):
        source = dict(_gvhmr_params(path), fps=lifter_fps)
    elif suffix == ".pkl":
        source = dict(_wham_params(path, track), fps=lifter_fps)
    else:
        raise MotionFormatError(f"{path}: unsupported SMPL parameter file type {suffix!r}")
    model_type = model_type or source["model_type"]
    gender = gender or source["gender"]
    if model_dir is None:
        model_dir = os.environ.get(MODEL_DIR_ENV)
        if not model_dir:
            raise bm.BodyModelError(
                f"{path}: no body model folder given (pass model_dir or set ${MODEL_DIR_ENV}); {bm.THIRD_PARTY_HINT}"
            )
    model = bm.load_body_model(model_dir, model_type, gender)
    return motion_from_params(path, model, source)


# ---------------------------------------------------------------------------------------------------------------
# Sources -> {"model_type", "gender", "fps", "betas" [B], "pose" {name: [T, n]}, "world" (R [T,3,3], t [T,3])}.


def _amass_params(path: pathlib.Path, data: dict[str, np.ndarray], fps: float | None) -> dict[str, Any]:
    if "poses" in data:
        poses = _float(path, data, "poses", ndim=2)
        model_type = _text(data["surface_model_type"]) if "surface_model_type" in data else None
        model_type = model_type or _POSE_WIDTH_TO_MODEL.get(poses.shape[1])
        if model_type not in bm.MODEL_TYPES or poses.shape[1] != 3 * bm.NUM_JOINTS[model_type]:
            raise MotionFormatError(f"{path}: 'poses' has {poses.shape[1]} columns, expected 72, 156 or 165")
        pose = _split_full_pose(poses, model_type)
    else:
        pose = {
            "global_orient": _float(path, data, "root_orient", ndim=2, width=3),
            "body_pose": _float(path, data, "pose_body", ndim=2, width=63),
        }
        hands = _float(path, data, "pose_hand", ndim=2, width=90)
        pose.update(left_hand_pose=hands[:, :45], right_hand_pose=hands[:, 45:])
        pose["jaw_pose"] = _float(path, data, "pose_jaw", ndim=2, width=3)
        eyes = _float(path, data, "pose_eye", ndim=2, width=6)
        pose.update(leye_pose=eyes[:, :3], reye_pose=eyes[:, 3:])
        model_type = "smplx"
    transl = _float(path, data, "trans", ndim=2, width=3)
    rate_key = "mocap_framerate" if "mocap_framerate" in data else "mocap_frame_rate"
    file_fps = float(_float(path, data, rate_key, ndim=0))
    if not file_fps > 0:
        raise MotionFormatError(f"{path}: '{rate_key}' must be positive, got {file_fps}")
    if fps is not None and abs(float(fps) - file_fps) > 1e-6:
        raise MotionFormatError(f"{path}: fps={fps} asked but the file says {rate_key}={file_fps} (resample instead)")
    gender = _text(data["gender"]).strip().lower() if "gender" in data else "neutral"
    if gender not in bm.GENDERS:
        raise MotionFormatError(f"{path}: 'gender' is {gender!r}, expected one of {bm.GENDERS}")
    return dict(
        model_type=model_type, gender=gender, fps=file_fps,
        betas=_float(path, data, "betas", ndim=1), pose=pose, transl=transl, world=None, up="z",
    )


def _gvhmr_params(path: pathlib.Path) -> dict[str, Any]:
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise MotionFormatError(
            f"{path}: GVHMR .pt results need torch to read (pip install 'genmimic_jax[smplx]')"
        ) from None
    try:
        results = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or unsafe files.
        raise MotionFormatError(f"{path}: cannot read as a torch file ({' '.join(str(err).split())[:200]})") from None
    if not isinstance(results, dict) or not isinstance(results.get("smpl_params_global"), dict):
        raise MotionFormatError(f"{path}: missing key 'smpl_params_global' (not a GVHMR hmr4d_results.pt?)")
    params = {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in results["smpl_params_global"].items()}
    where = f"{path}: smpl_params_global"
    betas = _float(where, params, "betas", ndim=2, width=10)
    return dict(
        model_type="smplx", gender="neutral", betas=betas.mean(axis=0),
        pose={"global_orient": _float(where, params, "global_orient", ndim=2, width=3),
              "body_pose": _float(where, params, "body_pose", ndim=2, width=63)},
        transl=_float(where, params, "transl", ndim=2, width=3), world=None, up="y",
    )


def _tram_params(path: pathlib.Path, data: dict[str, Any], camera: str | os.PathLike | None) -> dict[str, Any]:
    rotmat = _float(path, data, "pred_rotmat", ndim=4)
    if rotmat.shape[1:] != (24, 3, 3):
        raise MotionFormatError(f"{path}: 'pred_rotmat' has shape {rotmat.shape}, expected [T, 24, 3, 3]")
    num_frames = rotmat.shape[0]
    transl = _float(path, data, "pred_trans").reshape(num_frames, -1)
    if transl.shape[1] != 3:
        raise MotionFormatError(f"{path}: 'pred_trans' has shape {data['pred_trans'].shape}, expected [T, 1, 3]")
    betas = _float(path, data, "pred_shape", ndim=2, width=10)
    frames = _frames(path, data, "frame", num_frames)
    axis_angle = Rotation.from_matrix(rotmat.reshape(-1, 3, 3)).as_rotvec().reshape(num_frames, 72)
    camera_path = _find_tram_camera(path, camera)
    if camera_path is None:
        world = (np.broadcast_to(CAMERA_TO_Y_UP, (num_frames, 3, 3)), np.zeros((num_frames, 3)))
    else:
        cam = _read_pickled_npy(camera_path)
        cam_r = _float(camera_path, cam, "world_cam_R", ndim=3)
        cam_t = _float(camera_path, cam, "world_cam_T", ndim=2, width=3)
        if frames.min() < 0 or frames.max() >= min(len(cam_r), len(cam_t)):
            raise MotionFormatError(
                f"{camera_path}: world_cam_R/T have {len(cam_r)} frames, "
                f"the track needs frames {frames.min()}..{frames.max()}"
            )
        world = (cam_r[frames], cam_t[frames])
    return dict(
        model_type="smpl", gender="neutral", betas=betas.mean(axis=0),
        pose=_split_full_pose(axis_angle, "smpl"), transl=transl, world=world, up="y",
    )


def _find_tram_camera(path: pathlib.Path, camera: str | os.PathLike | None) -> pathlib.Path | None:
    if camera is not None:
        camera = pathlib.Path(camera)
        if not camera.is_file():
            raise MotionFormatError(f"{camera}: no such TRAM camera file")
        return camera
    for candidate in (path.parent / "camera.npy", path.parent.parent / "camera.npy"):
        if candidate.is_file():
            return candidate
    return None


def _wham_params(path: pathlib.Path, track: Any) -> dict[str, Any]:
    try:
        results = safe_pickle.load(path)
    except safe_pickle.UnsafePickleError as err:
        raise MotionFormatError(str(err)) from None
    if not isinstance(results, dict) or not results:
        raise MotionFormatError(f"{path}: expected a non-empty dict of WHAM tracks")
    if "pose_world" in results or "pose" in results:  # a single track's dict
        results = {0: results}
    tracks = {k: v for k, v in results.items() if isinstance(v, dict)}
    if track is None:
        track = max(tracks, key=lambda k: len(np.asarray(tracks[k].get("pose_world", tracks[k].get("pose", [])))))
    if track not in tracks:
        raise MotionFormatError(f"{path}: no track {track!r} (tracks: {sorted(tracks, key=str)})")
    data = tracks[track]
    where = f"{path}: track {track}"
    if "pose_world" not in data:
        raise MotionFormatError(f"{where}: missing key 'pose_world' (camera-frame 'pose' only: no world trajectory)")
    pose = _float(where, data, "pose_world", ndim=2, width=72)
    num_frames = pose.shape[0]
    frame_key = "frame_ids" if "frame_ids" in data else "frame_id"
    if frame_key in data:
        _frames(where, data, frame_key, num_frames)
    betas = _float(where, data, "betas")
    betas = betas.reshape(-1, betas.shape[-1]).mean(axis=0)
    return dict(
        model_type="smpl", gender="neutral", betas=betas, pose=_split_full_pose(pose, "smpl"),
        transl=_float(where, data, "trans_world", ndim=2, width=3), world=None, up="y",
    )


# ---------------------------------------------------------------------------------------------------------------
# Posing and canonicalisation.


def motion_from_params(path: str | os.PathLike, model: bm.BodyModel, source: dict[str, Any]) -> HumanMotion:
    """Poses a parsed source with the body model, brings it to the z-up world on the floor, and validates it."""
    pose = _convert_pose(source["pose"], source["model_type"], model.model_type)
    num_frames = pose["global_orient"].shape[0]
    transl = np.asarray(source["transl"], np.float64)
    if num_frames == 0:
        raise MotionFormatError(f"{path}: no frames")
    for name, value in {**pose, "transl": transl}.items():
        if value.shape[0] != num_frames:
            raise MotionFormatError(f"{path}: '{name}' has {value.shape[0]} frames, 'global_orient' has {num_frames}")
    betas = np.asarray(source["betas"], np.float64)[: model.num_betas]
    rest_vertices, rest_joints = bm.shaped_rest(model, {"betas": jnp.asarray(betas, jnp.float32)})
    pelvis = np.asarray(rest_joints[0], np.float64)

    # World placement: x_new = R x + t for every posed point, folded into the root rotation and translation
    # (the root rotates about the rest pelvis, so transl' = R (pelvis + transl) + t - pelvis).
    rot, offset = source["world"] or (np.broadcast_to(np.eye(3), (num_frames, 3, 3)), np.zeros((num_frames, 3)))
    if source["up"] == "y":
        rot, offset = Y_UP_TO_Z_UP @ rot, offset @ Y_UP_TO_Z_UP.T
    root = Rotation.from_matrix(rot) * Rotation.from_rotvec(pose["global_orient"])
    pose["global_orient"] = root.as_rotvec()
    transl = np.einsum("tab,tb->ta", rot, pelvis + transl) + offset - pelvis

    params = {k: v.astype(np.float32) for k, v in pose.items()}
    params["transl"] = transl.astype(np.float32)
    positions, rotations, lowest = _pose_frames(model, betas.astype(np.float32), params)
    if not np.all(np.isfinite(positions)):
        raise MotionFormatError(f"{path}: posing gave non-finite joint positions")
    floor = float(lowest.min())
    positions[..., 2] -= floor
    params["transl"][:, 2] -= floor

    up_extent = np.ptp(np.asarray(rest_vertices)[:, 1])  # SMPL templates are y-up
    quat_xyzw = Rotation.from_matrix(rotations.reshape(-1, 3, 3)).as_quat()
    orientations = quat_xyzw[:, [3, 0, 1, 2]].reshape(num_frames, 24, 4).astype(np.float32)
    smpl_params = dict(params, betas=betas.astype(np.float32),
                       model_type=np.array(model.model_type), gender=np.array(model.gender))
    motion = HumanMotion(
        positions=positions.astype(np.float32), fps=float(source["fps"]), orientations=orientations,
        smpl_params=smpl_params, height=float(up_extent), source=str(path),
    )
    validate(motion)
    return motion


@jax.jit
def _pose_chunk(model: bm.BodyModel, params: dict[str, jax.Array]):
    out = bm.forward(model, params)
    positions, rotations = bm.joints_24(model, out)
    return positions, rotations, out.vertices[..., 2].min(axis=-1)


def _pose_frames(model: bm.BodyModel, betas: np.ndarray, params: dict[str, np.ndarray]):
    """SMPL-24 positions [T, 24, 3], rotations [T, 24, 3, 3] and lowest vertex height [T], in fixed-size chunks."""
    num_frames = params["global_orient"].shape[0]
    outputs = []
    for start in range(0, num_frames, _CHUNK):
        index = np.minimum(np.arange(start, start + _CHUNK), num_frames - 1)  # pad the last chunk by repetition
        chunk = {k: jnp.asarray(v[index]) for k, v in params.items()}
        chunk["betas"] = jnp.asarray(betas)
        outputs.append([np.asarray(x)[: num_frames - start] for x in _pose_chunk(model, chunk)])
    return tuple(np.concatenate(parts).astype(np.float64) for parts in zip(*outputs))


def _split_full_pose(poses: np.ndarray, model_type: str) -> dict[str, np.ndarray]:
    """[T, 3 J] axis-angle in the model's joint order -> named params."""
    sizes = {"global_orient": 3, "body_pose": 3 * (bm.NUM_BODY_JOINTS[model_type] - 1)}
    if model_type == "smplx":
        sizes.update(jaw_pose=3, leye_pose=3, reye_pose=3)
    if model_type != "smpl":
        sizes.update(left_hand_pose=45, right_hand_pose=45)
    split = np.split(poses, np.cumsum(list(sizes.values()))[:-1], axis=1)
    return dict(zip(sizes, split))


def _convert_pose(pose: dict[str, np.ndarray], from_type: str, to_type: str) -> dict[str, np.ndarray]:
    """Params of one model type for another: the 22 shared body joints kept, the others at rest."""
    pose = {k: np.asarray(v, np.float64) for k, v in pose.items()}
    if from_type == to_type:
        return pose
    num_frames = pose["global_orient"].shape[0]
    body = pose["body_pose"][:, :63]
    out = {"global_orient": pose["global_orient"]}
    if to_type == "smpl":
        out["body_pose"] = np.concatenate([body, np.zeros((num_frames, 6))], axis=1)
    else:
        out["body_pose"] = body
        for name in ("left_hand_pose", "right_hand_pose"):
            out[name] = pose.get(name, np.zeros((num_frames, 45)))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Reading and checking.


def _read_npz(path: pathlib.Path) -> dict[str, np.ndarray]:
    try:
        with files.open_npz(path, MotionFormatError) as data:
            out = {}
            for key in data.files:
                try:
                    out[key] = data[key]
                except ValueError:  # an object array (needs pickle): never read, reported if it is needed
                    if key == "gender":  # read as missing, it would silently become a neutral body model
                        raise MotionFormatError(f"{path}: 'gender' is stored as a pickled Python object; store it "
                                                "as a plain string (np.savez(..., gender='female'))") from None
                    continue
            return out
    except MotionFormatError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise MotionFormatError(f"{path}: cannot read as .npz ({' '.join(str(err).split())})") from None


def _read_pickled_npy(path: pathlib.Path) -> dict[str, Any]:
    """A `.npy` holding a pickled dict (as `np.save(dict)` writes), through the restricted unpickler."""
    try:
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise MotionFormatError(f"{path}: unsupported .npy format version {version}")
            header = read_header(file, max_header_size=100_000)
            if not np.dtype(header[2]).hasobject:
                raise MotionFormatError(f"{path}: expected a saved dict (object .npy), got a {header[2]} array")
            value = safe_pickle.loads_from(file, str(path))
    except safe_pickle.UnsafePickleError as err:
        raise MotionFormatError(str(err)) from None
    except (OSError, ValueError) as err:
        raise MotionFormatError(f"{path}: not a readable .npy file ({err})") from None
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype == object:
        value = value.item()
    if not isinstance(value, dict):
        raise MotionFormatError(f"{path}: expected a dict, got {type(value).__name__}")
    return value


def _float(where, data: dict[str, Any], key: str, ndim: int | None = None, width: int | None = None) -> np.ndarray:
    """`data[key]` as a finite float64 array with the expected rank / last dimension, else MotionFormatError."""
    if key not in data:
        raise MotionFormatError(f"{where}: missing key {key!r}")
    try:
        value = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise MotionFormatError(f"{where}: {key!r} is not numeric") from None
    if ndim is not None and value.ndim != ndim:
        raise MotionFormatError(f"{where}: {key!r} has shape {value.shape}, expected {ndim} dimensions")
    if width is not None and value.shape[-1] != width:
        raise MotionFormatError(f"{where}: {key!r} has shape {value.shape}, expected last dimension {width}")
    if not np.all(np.isfinite(value)):
        raise MotionFormatError(f"{where}: {key!r} contains NaN or inf")
    return value


def _text(value: np.ndarray) -> str:
    """A string stored in an .npz (str or bytes array)."""
    value = np.asarray(value).reshape(-1)[0] if np.asarray(value).size else ""
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _frames(where, data: dict[str, Any], key: str, num_frames: int) -> np.ndarray:
    frames = _float(where, data, key).reshape(-1).astype(np.int64)
    if frames.shape[0] != num_frames:
        raise MotionFormatError(f"{where}: {key!r} has {frames.shape[0]} entries for {num_frames} frames")
    if num_frames > 1 and not np.all(np.diff(frames) == 1):
        gap = int(np.flatnonzero(np.diff(frames) != 1)[0])
        raise MotionFormatError(f"{where}: {key!r} is not consecutive (jumps from {frames[gap]} to {frames[gap + 1]})")
    return frames
