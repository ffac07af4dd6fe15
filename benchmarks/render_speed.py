"""Video rendering speed and size, and the physics model's speed with the render model's meshes kept out of it.

    python -m benchmarks.render_speed [--seconds=10] [--repeats=3] [--baseline_dir=old_g1/]
        [--skip_mjx] [--skip_video] [--skip_physics]

1. A `--seconds` clip of the built-in motion (retargeted) at the default video style (640x480, reference ghost and
   goal keypoints, as the main job draws): offscreen render frames per second and per CPU-second (encoding
   excluded; the latter hardly depends on what else the machine runs), then the MP4 and GIF
   written from the same frames, with their sizes and encoding times.
2. Physics, side by side in one run, interleaved: C MuJoCo `mj_step` steps/s and MJX `jit(mjx.step)` compile time of
   the physics model (`model.load_model`), of `--baseline_dir`'s scene.xml (e.g. the model files of an earlier
   commit) when given, and of the render model (what stepping the meshes would cost; never done in training).
"""

from __future__ import annotations

import os
import tempfile
import time

from genmimic_jax.viz import gl

gl.select_gl_backend()  # before anything imports mujoco

import jax  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from mujoco import mjx  # noqa: E402

from genmimic_jax.robot.g1 import constants, model as g1_model, render_model  # noqa: E402
from genmimic_jax.viz import render  # noqa: E402

_SECONDS = flags.DEFINE_float("seconds", 10.0, "Clip length.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Interleaved repeats of each physics measurement (median reported).")
_BASELINE_DIR = flags.DEFINE_string("baseline_dir", None, "A folder with another g1.xml + scene.xml to compare.")
_SKIP_MJX = flags.DEFINE_boolean("skip_mjx", False, "Leave out the MJX compile times.")
_SKIP_VIDEO = flags.DEFINE_boolean("skip_video", False, "Leave out the video figures.")
_SKIP_PHYSICS = flags.DEFINE_boolean("skip_physics", False, "Leave out the physics figures.")
_STEPS = 2000


def builtin_clip(seconds: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The built-in motion retargeted: qpos [T, 36], robot keypoints [T, K, 3] and fps."""
    import configs.retarget
    from genmimic_jax.eval import builtin_motion
    from genmimic_jax.retarget import pipeline

    result = pipeline.Retargeter(configs.retarget.get_config())([builtin_motion.human_motion(seconds)])[0]
    return result.motion.qpos, result.motion.keypoints, result.motion.fps


def video_figures(seconds: float) -> dict:
    """Render frames/s and the MP4 / GIF sizes of a `seconds` clip."""
    qpos, keypoints, fps = builtin_clip(seconds)
    tracks = render.Tracks(qpos, reference_qpos=qpos, points=keypoints)
    start, start_cpu = time.perf_counter(), time.process_time()
    frames = list(render.iter_frames(tracks, fps))
    render_s, render_cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
    out = {"frames": len(frames), "fps": fps, "render_s": render_s, "render_frames_per_s": len(frames) / render_s,
           "render_frames_per_cpu_s": len(frames) / render_cpu_s, "width": frames[0].shape[1],
           "height": frames[0].shape[0]}
    with tempfile.TemporaryDirectory() as folder:
        for suffix in ("mp4", "gif"):
            path = os.path.join(folder, f"clip.{suffix}")
            start = time.perf_counter()
            render.write_video(frames, fps, path)
            out[f"{suffix}_encode_s"] = time.perf_counter() - start
            out[f"{suffix}_bytes"] = os.path.getsize(path)
    return out


def steps_per_second(model: mujoco.MjModel) -> float:
    """C MuJoCo `mj_step`s per second from the standing pose with the default-pose controls."""
    data = mujoco.MjData(model)
    data.qpos[:] = g1_model.default_qpos()
    data.ctrl[:] = constants.DEFAULT_POSE
    mujoco.mj_forward(model, data)
    start = time.perf_counter()
    for _ in range(_STEPS):
        mujoco.mj_step(model, data)
    return _STEPS / (time.perf_counter() - start)


def mjx_compile_seconds(model: mujoco.MjModel) -> float:
    """Seconds to put the model on the device and compile `jit(mjx.step)` (in-memory and persistent caches off)."""
    jax.clear_caches()
    start = time.perf_counter()
    mx = mjx.put_model(model)
    dx = mjx.make_data(mx)
    jax.jit(mjx.step).lower(mx, dx).compile()
    return time.perf_counter() - start


def physics_figures(models: dict[str, mujoco.MjModel], repeats: int, with_mjx: bool) -> dict:
    """Median steps/s and compile seconds per model, measured interleaved (A, B, C, A, B, C, ...)."""
    steps = {name: [] for name in models}
    compiles = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            steps[name].append(steps_per_second(model))
            if with_mjx:
                compiles[name].append(mjx_compile_seconds(model))
    return {name: {"steps_per_s": float(np.median(steps[name])),
                   "mjx_compile_s": float(np.median(compiles[name])) if with_mjx else None,
                   "meshes": int(models[name].nmesh), "geoms": int(models[name].ngeom)} for name in models}


def print_physics() -> None:
    """Prints the physics figures of the physics, baseline and render models."""
    models = {"physics model": g1_model.load_model()}
    if _BASELINE_DIR.value:
        models["baseline model"] = mujoco.MjModel.from_xml_path(os.path.join(_BASELINE_DIR.value, "scene.xml"))
    models["render model (meshes)"] = render_model.load_render_model()
    for name, figures in physics_figures(models, _REPEATS.value, not _SKIP_MJX.value).items():
        compile_text = "" if figures["mjx_compile_s"] is None else f", MJX compile {figures['mjx_compile_s']:.1f} s"
        print(f"{name}: {figures['meshes']} meshes, {figures['geoms']} geoms; C MuJoCo "
              f"{figures['steps_per_s']:,.0f} steps/s{compile_text}")


def print_video() -> None:
    """Prints the video figures."""
    video = video_figures(_SECONDS.value)
    print(f"video: {video['frames']} frames ({_SECONDS.value:g} s at {video['fps']:g} fps), {video['width']}x"
          f"{video['height']}, MUJOCO_GL={os.environ.get('MUJOCO_GL')}: render {video['render_frames_per_s']:.1f} "
          f"frames/s ({video['render_s']:.0f} s; {video['render_frames_per_cpu_s']:.1f} frames per CPU-second, "
          f"all threads); MP4 {video['mp4_bytes'] / 1e6:.2f} MB (encode "
          f"{video['mp4_encode_s']:.1f} s), GIF {video['gif_bytes'] / 1e6:.2f} MB "
          f"(encode {video['gif_encode_s']:.1f} s)")


def main(argv: list[str]) -> None:
    del argv
    jax.config.update("jax_enable_compilation_cache", False)
    print(f"load average at start: {os.getloadavg()}")
    if not _SKIP_PHYSICS.value:
        print_physics()
    if not _SKIP_VIDEO.value:
        print_video()
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    app.run(main)
