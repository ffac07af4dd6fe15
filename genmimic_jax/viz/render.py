"""Offscreen MuJoCo rendering of G1 qpos trajectories, with optional points (e.g. human keypoints) drawn as spheres.

Needs an OpenGL backend: call `gl.select_gl_backend()` before anything imports `mujoco`, or set MUJOCO_GL=egl/osmesa.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import tempfile

import imageio.v2 as imageio
import mujoco
import numpy as np

from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model


class RenderUnavailable(RuntimeError):
    """No OpenGL context can be made; the message says what to install or set."""


def _renderer(model: mujoco.MjModel, height: int, width: int) -> mujoco.Renderer:
    try:
        return mujoco.Renderer(model, height, width)
    except Exception as error:  # MuJoCo raises several types when no GL library or display exists.
        raise RenderUnavailable(
            f"cannot render: no OpenGL context (MUJOCO_GL={os.environ.get('MUJOCO_GL', 'unset')}: "
            f"{' '.join(str(error).split()) or type(error).__name__}); install libegl1 or libosmesa6 and set "
            "MUJOCO_GL=egl or osmesa") from None


def _add_spheres(scene: mujoco.MjvScene, points: np.ndarray, radius: float, rgba: np.ndarray) -> None:
    for point in points:
        if scene.ngeom >= scene.maxgeom or not np.all(np.isfinite(point)):
            return
        mujoco.mjv_initGeom(scene.geoms[scene.ngeom], mujoco.mjtGeom.mjGEOM_SPHERE, np.array([radius, 0.0, 0.0]),
                            np.asarray(point, np.float64), np.eye(3).reshape(-1), rgba.astype(np.float32))
        scene.ngeom += 1


def render_frames(
    qpos: np.ndarray,
    frames: np.ndarray | list[int] | None = None,
    overlay_points: np.ndarray | None = None,
    *,
    width: int = 480,
    height: int = 360,
    distance: float = 2.5,
    look_height: float = 0.55,
    azimuth: float = 135.0,
    elevation: float = -15.0,
    point_radius: float = 0.025,
    point_rgba: tuple[float, float, float, float] = (0.1, 0.9, 0.2, 0.9),
) -> np.ndarray:
    """RGB images [N, height, width, 3] of the given frames (default all) of qpos [T, 36].

    The camera looks at the pelvis position at `look_height` from `distance`, `azimuth`, `elevation` (degrees). `overlay_points` [T, M, 3] are drawn as spheres (NaN points are skipped).

    Raises:
      RenderUnavailable: no OpenGL backend.
      ValueError: wrong shapes.
    """
    qpos = np.asarray(qpos, np.float64)
    if qpos.ndim != 2 or qpos.shape[1] != constants.QPOS_SIZE:
        raise ValueError(f"qpos has shape {qpos.shape}, expected [T, {constants.QPOS_SIZE}]")
    if overlay_points is not None and (overlay_points.ndim != 3 or overlay_points.shape[0] != qpos.shape[0]):
        raise ValueError(f"overlay_points have shape {overlay_points.shape}, expected [{qpos.shape[0]}, M, 3]")
    frames = np.arange(len(qpos)) if frames is None else np.asarray(frames)
    model = g1_model.load_model(scene=True)
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    data = mujoco.MjData(model)
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.distance, camera.azimuth, camera.elevation = distance, azimuth, elevation
    renderer = _renderer(model, height, width)
    rgba = np.asarray(point_rgba)
    images = []
    try:
        for t in frames:
            data.qpos[:] = qpos[t]
            mujoco.mj_kinematics(model, data)
            camera.lookat[:] = (qpos[t, 0], qpos[t, 1], look_height)
            renderer.update_scene(data, camera)
            if overlay_points is not None:
                _add_spheres(renderer.scene, overlay_points[t], point_radius, rgba)
            images.append(renderer.render().copy())
    finally:
        renderer.close()
    return np.stack(images)


def render(
    qpos: np.ndarray,
    fps: float,
    path: str | os.PathLike,
    overlay_points: np.ndarray | None = None,
    **options,
) -> pathlib.Path:
    """Renders qpos [T, 36] at `fps` to an `.mp4` or `.gif` at `path` (written to a temp file, then renamed).

    Raises:
      RenderUnavailable: no OpenGL backend.
      ValueError: wrong shapes or an unsupported extension.
    """
    path = pathlib.Path(path)
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"{path}: video must be .mp4 or .gif")
    if path.suffix.lower() == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise RenderUnavailable(f"{path}: writing .mp4 needs the imageio-ffmpeg package; write a .gif instead")
    images = render_frames(qpos, None, overlay_points, **options)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix,
                                     delete=False) as tmp:
        pass
    try:
        if path.suffix.lower() == ".gif":
            imageio.mimsave(tmp.name, list(images), duration=1000.0 / fps, loop=0)
        else:
            imageio.mimsave(tmp.name, list(images), fps=fps, macro_block_size=1)
    except BaseException:
        os.unlink(tmp.name)
        raise
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)
    return path
