"""Offscreen videos of the G1 (Unitree's meshes) from qpos trajectories, with a camera that follows the robot.

What a frame can show besides the robot: goal or target keypoints (spheres), the reference motion as a translucent
ghost robot, and a human skeleton over or beside the robot. Frames run over the longest of the given tracks, so a
failed rollout's video shows the whole clip: the robot stays where it fell while the reference plays on, under a
red "fell at ..." banner. MP4 (H.264, through imageio-ffmpeg) by default, or GIF.

Needs an OpenGL backend: call `gl.select_gl_backend()` before anything imports `mujoco`, or set MUJOCO_GL=egl/osmesa.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pathlib
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import imageio.v2 as imageio
import mujoco
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from genmimic_jax import files
from genmimic_jax.human.skeleton import SMPL_PARENTS
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import render_model
from genmimic_jax.viz import gl

FORMATS = (".mp4", ".gif")


class RenderUnavailable(RuntimeError):
    """No OpenGL context or no video encoder; the message says what to install or set."""


@dataclasses.dataclass(frozen=True)
class VideoStyle:
    """How a video looks.

    Attributes:
      width, height: pixels.
      distance, azimuth, elevation: the tracking camera (metres, degrees) around the smoothed pelvis position.
      look_height: height (m) the camera looks at.
      follow_seconds: the camera follows the pelvis averaged over this window, so it does not shake.
      point_radius, point_rgba: keypoint spheres.
      ghost_rgba: the reference robot.
      skeleton_rgba, skeleton_radius: the human skeleton (joints and bones).
      skeleton_beside: metres to the camera's right the skeleton is drawn at (0: over the robot).
      shadow_size, multisamples: shadow map side (pixels) and anti-aliasing samples; MuJoCo's defaults (4096, 4)
        are several times slower on a CPU (software OpenGL).
    """

    width: int = 640
    height: int = 480
    distance: float = 2.8
    azimuth: float = 140.0
    elevation: float = -15.0
    look_height: float = 0.7
    follow_seconds: float = 0.5
    point_radius: float = 0.025
    point_rgba: tuple[float, float, float, float] = (0.1, 0.9, 0.2, 0.9)
    ghost_rgba: tuple[float, float, float, float] = (0.3, 0.6, 1.0, 0.25)
    skeleton_rgba: tuple[float, float, float, float] = (1.0, 0.55, 0.1, 1.0)
    skeleton_radius: float = 0.02
    skeleton_beside: float = 0.0
    shadow_size: int = 1024
    multisamples: int = 2


@dataclasses.dataclass(frozen=True)
class Tracks:
    """What to draw, frame by frame (all optional but `qpos`; frames beyond a track's end repeat its last frame).

    Attributes:
      qpos: [T, 36] the robot.
      reference_qpos: [T', 36] the reference robot, drawn as a ghost.
      points: [T', M, 3] keypoints (NaN ones are skipped).
      skeleton: [T', 24, 3] human joint positions on the SMPL-24 skeleton (NaN joints are skipped).
      failed_at: the frame the robot fell at (marked from there on), or None.
    """

    qpos: np.ndarray
    reference_qpos: np.ndarray | None = None
    points: np.ndarray | None = None
    skeleton: np.ndarray | None = None
    failed_at: int | None = None

    def __post_init__(self):
        for name, shape in (("qpos", (constants.QPOS_SIZE,)), ("reference_qpos", (constants.QPOS_SIZE,)),
                            ("points", (None, 3)), ("skeleton", (len(SMPL_PARENTS), 3))):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, np.float64)
            expected = (None, *shape)
            if value.ndim != len(expected) or len(value) == 0 or any(
                    e is not None and e != s for e, s in zip(expected, value.shape)):
                raise ValueError(f"{name} has shape {value.shape}, expected "
                                 f"[T, {', '.join('M' if e is None else str(e) for e in shape)}]")
            object.__setattr__(self, name, value)

    @property
    def num_frames(self) -> int:
        """Frames of the video: the longest track."""
        return max(len(track) for track in (self.qpos, self.reference_qpos, self.points, self.skeleton)
                   if track is not None)


def human_skeleton(human) -> np.ndarray:
    """[T, 24, 3] joint positions of a `HumanMotion` for `Tracks.skeleton`, NaN where the source lacks the joint."""
    positions = np.asarray(human.positions)
    return positions if human.mask is None else np.where(np.asarray(human.mask)[None, :, None], positions, np.nan)


def frame_of(track: np.ndarray, frame: int) -> np.ndarray:
    """Frame `frame` of `track`, or its last frame past its end."""
    return track[min(frame, len(track) - 1)]


def at_rate(track: np.ndarray, fps: float, new_fps: float) -> np.ndarray:
    """`track` [T, ...] sampled at `new_fps` by the nearest frame (same duration)."""
    count = int(round((len(track) - 1) * new_fps / fps)) + 1
    return track[np.minimum(np.round(np.arange(count) * fps / new_fps).astype(int), len(track) - 1)]


def _renderer(model: mujoco.MjModel, height: int, width: int) -> mujoco.Renderer:
    try:
        return mujoco.Renderer(model, height, width)
    except Exception as error:  # MuJoCo raises several types when no GL library or display exists.
        raise RenderUnavailable(
            f"cannot render (MUJOCO_GL={os.environ.get('MUJOCO_GL', 'unset')}: "
            f"{' '.join(str(error).split()) or type(error).__name__}); {gl.MISSING_HINT}") from None


def _add_geom(scene: mujoco.MjvScene, kind: mujoco.mjtGeom, size: np.ndarray, pos: np.ndarray,
              rgba: np.ndarray) -> mujoco.MjvGeom | None:
    if scene.ngeom >= scene.maxgeom:
        return None
    geom = scene.geoms[scene.ngeom]
    mujoco.mjv_initGeom(geom, kind, size, pos, np.eye(3).reshape(-1), rgba.astype(np.float32))
    scene.ngeom += 1
    return geom


def add_points(scene: mujoco.MjvScene, points: np.ndarray, radius: float, rgba: Iterable[float]) -> None:
    """Appends spheres at the finite `points` [M, 3] to `scene`."""
    rgba = np.asarray(rgba)
    for point in points:
        if np.all(np.isfinite(point)):
            _add_geom(scene, mujoco.mjtGeom.mjGEOM_SPHERE, np.array([radius, 0.0, 0.0]), point, rgba)


def add_skeleton(scene: mujoco.MjvScene, joints: np.ndarray, radius: float, rgba: Iterable[float]) -> None:
    """Appends the SMPL-24 skeleton `joints` [24, 3] (joints as spheres, bones as capsules) to `scene`; a joint whose
    parent is missing (NaN) is joined to its nearest present ancestor."""
    rgba = np.asarray(rgba)
    present = np.isfinite(joints).all(axis=-1)
    add_points(scene, joints, radius * 1.4, rgba)
    for child in np.flatnonzero(present):
        parent = SMPL_PARENTS[child]
        while parent >= 0 and not present[parent]:
            parent = SMPL_PARENTS[parent]
        if parent < 0:
            continue
        geom = _add_geom(scene, mujoco.mjtGeom.mjGEOM_CAPSULE, np.zeros(3), np.zeros(3), rgba)
        if geom is not None:
            mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_CAPSULE, radius, joints[parent], joints[child])


def add_ghost(scene: mujoco.MjvScene, model: mujoco.MjModel, data: mujoco.MjData, rgba: Iterable[float]) -> None:
    """Appends the robot posed by `data` (after `pose`) to `scene` in one translucent colour."""
    first = scene.ngeom
    option = mujoco.MjvOption()
    mujoco.mjv_addGeoms(model, data, option, mujoco.MjvPerturb(), mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)
    for index in range(first, scene.ngeom):
        scene.geoms[index].rgba[:] = np.asarray(rgba, np.float32)
        scene.geoms[index].matid = -1


def pose(model: mujoco.MjModel, data: mujoco.MjData, qpos: np.ndarray) -> None:
    """Sets `data` to `qpos` and computes what drawing needs: body, geom and site poses, cameras and lights."""
    data.qpos[:] = qpos
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    mujoco.mj_camlight(model, data)


def camera_targets(root_xy: np.ndarray, fps: float, follow_seconds: float) -> np.ndarray:
    """[T, 2] where the tracking camera looks: the root path averaged over `follow_seconds` (edges held)."""
    window = max(1, int(round(follow_seconds * fps)) | 1)
    padded = np.pad(root_xy, ((window // 2, window // 2), (0, 0)), mode="edge")
    kernel = np.ones(window) / window
    return np.stack([np.convolve(padded[:, axis], kernel, mode="valid") for axis in range(2)], axis=-1)


def camera_right(azimuth_deg: float) -> np.ndarray:
    """The horizontal unit vector pointing right in the view of a camera at `azimuth_deg`."""
    azimuth = np.deg2rad(azimuth_deg)
    return np.array([np.sin(azimuth), -np.cos(azimuth), 0.0])


def _font(height: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(12, height // 24))


def mark_fall(image: np.ndarray, text: str) -> np.ndarray:
    """`image` with a red frame and a red banner holding `text` at the top."""
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    width, height = picture.size
    border = max(3, height // 120)
    draw.rectangle([0, 0, width - 1, height - 1], outline=(220, 30, 30), width=border)
    font = _font(height)
    box = draw.textbbox((0, 0), text, font=font)
    pad = border * 2
    draw.rectangle([0, 0, width, box[3] + 2 * pad], fill=(200, 25, 25))
    draw.text(((width - box[2]) // 2, pad), text, fill=(255, 255, 255), font=font)
    return np.asarray(picture)


def iter_frames(tracks: Tracks, fps: float, style: VideoStyle = VideoStyle(),
                frames: Iterable[int] | None = None) -> Iterator[np.ndarray]:
    """RGB images [height, width, 3] of `tracks`, of every frame or of `frames` (`fps` sets the camera smoothing and
    the fall time).

    Raises:
      RenderUnavailable: no OpenGL backend.
    """
    model = render_model.load_render_model(scene=True)
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, style.width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, style.height)
    model.vis.quality.shadowsize, model.vis.quality.offsamples = style.shadow_size, style.multisamples
    data, reference = mujoco.MjData(model), mujoco.MjData(model)
    renderer = _renderer(model, style.height, style.width)
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.distance, camera.azimuth, camera.elevation = style.distance, style.azimuth, style.elevation
    count = tracks.num_frames
    robot_xy = np.stack([frame_of(tracks.qpos, t)[:2] for t in range(count)])
    beside = style.skeleton_beside * camera_right(style.azimuth) if tracks.skeleton is not None else np.zeros(3)
    targets = camera_targets(robot_xy, fps, style.follow_seconds) + beside[:2] / 2
    fall_text = None if tracks.failed_at is None else f"fell at {tracks.failed_at / fps:.2f} s; the reference plays on"
    try:
        for t in range(count) if frames is None else frames:
            pose(model, data, frame_of(tracks.qpos, t))
            camera.lookat[:] = (*targets[t], style.look_height)
            renderer.update_scene(data, camera)
            if tracks.reference_qpos is not None:
                pose(model, reference, frame_of(tracks.reference_qpos, t))
                add_ghost(renderer.scene, model, reference, style.ghost_rgba)
            if tracks.points is not None:
                add_points(renderer.scene, frame_of(tracks.points, t), style.point_radius, style.point_rgba)
            if tracks.skeleton is not None:
                add_skeleton(renderer.scene, frame_of(tracks.skeleton, t) + beside, style.skeleton_radius,
                             style.skeleton_rgba)
            image = renderer.render()
            if fall_text is not None and t >= tracks.failed_at:
                image = mark_fall(image, fall_text)
            yield image.copy()
    finally:
        renderer.close()


def write_video(frames: Iterable[np.ndarray], fps: float, path: str | os.PathLike, overwrite: bool = False) -> int:
    """Writes `frames` to an `.mp4` (H.264) or `.gif` at `path` with `files.write_atomic`; returns the frame count.

    Raises:
      RenderUnavailable: an .mp4 without the imageio-ffmpeg package.
      ValueError: another extension; `files.OutputError` for a path that must not be written.
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: video must be {' or '.join(FORMATS)}")
    if suffix == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise RenderUnavailable(f"{path}: writing .mp4 needs the imageio-ffmpeg package "
                                "(pip install imageio-ffmpeg); or write a .gif")
    options = {"format": "GIF", "duration": 1000.0 / fps, "loop": 0} if suffix == ".gif" else {
        "format": "FFMPEG", "fps": float(fps), "codec": "libx264", "quality": 5, "macro_block_size": 2,
        "ffmpeg_log_level": "error"}
    count = 0

    def encode(file: BinaryIO) -> None:  # ffmpeg writes to a path: encode in a scratch folder, then copy.
        nonlocal count
        with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
            # imageio-ffmpeg starts ffmpeg with fork + exec, which JAX's at-fork warning does not tell apart.
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
            encoded = pathlib.Path(scratch) / f"video{suffix}"
            with imageio.get_writer(encoded, mode="I", **options) as writer:
                for frame in frames:
                    writer.append_data(frame)
                    count += 1
            with open(encoded, "rb") as source:
                shutil.copyfileobj(source, file)

    files.write_atomic(path, encode, suffix[1:], overwrite=overwrite)
    return count


def render(
    qpos: np.ndarray,
    fps: float,
    path: str | os.PathLike,
    overlay_points: np.ndarray | None = None,
    *,
    reference_qpos: np.ndarray | None = None,
    skeleton: np.ndarray | None = None,
    failed_at: int | None = None,
    overwrite: bool = False,
    **style,
) -> pathlib.Path:
    """Renders the robot qpos [T, 36] (and the optional tracks, see `Tracks`) at `fps` to an .mp4 or .gif at `path`.

    `style` holds `VideoStyle` fields (width, height, azimuth, ...); `overwrite` as in `files.write_atomic`.

    Raises:
      RenderUnavailable: no OpenGL backend or no MP4 encoder.
      ValueError: wrong shapes or an unsupported extension.
    """
    path = pathlib.Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{path}: video must be {' or '.join(FORMATS)}")
    tracks = Tracks(qpos, reference_qpos, overlay_points, skeleton, failed_at)
    write_video(iter_frames(tracks, fps, VideoStyle(**style)), fps, path, overwrite)
    return path


def render_frames(tracks: Tracks, frames: Iterable[int], fps: float, style: VideoStyle = VideoStyle()) -> np.ndarray:
    """RGB images [N, height, width, 3] of the chosen `frames` of `tracks` (e.g. for a picture strip)."""
    return np.stack(list(iter_frames(tracks, fps, style, frames)))
