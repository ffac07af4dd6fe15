"""Looks at a motion, a rollout or a policy: MuJoCo's interactive viewer, or a video with --video.

    python -m experiments.view --motion=retargeted/walk.npz [--human=human/walk.npz]    # replay a retarget
    python -m experiments.view --rollout=evaluation/rollouts/walk.npz [--motion=...]     # replay a saved rollout
    python -m experiments.view --policy=policy.onnx --motion=retargeted/walk.npz         # run a policy live
    ... --video=out.mp4                                # the same as an MP4 (or .gif), headless, no display needed

The robot is Unitree's G1 (render model meshes). A replayed retarget shows the robot keypoints in green and, with
--human, the human skeleton beside it; a rollout or a live policy shows the reference motion (--motion) as a
translucent ghost and the goal keypoints. Viewer keys: space pauses, the right arrow steps one frame while paused,
up/down double/halve the speed, backspace restarts. The viewer needs a display; without one this says so in one line
and points to --video. Missing or unreadable files are refused in one line (exit status as in experiments.cli).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sys
import time

import numpy as np
from absl import app, flags

from experiments import cli
from genmimic_jax.errors import InputError

_MOTION = flags.DEFINE_string("motion", None, "A retargeted robot motion (.npz from experiments.retarget).")
_HUMAN = flags.DEFINE_string("human", None, "The canonical human motion (.npz) it came from: drawn beside the robot.")
_ROLLOUT = flags.DEFINE_string("rollout", None, "A saved rollout (evaluation/rollouts/<clip>.npz).")
_POLICY = flags.DEFINE_string("policy", None, "An exported ONNX policy to run live on --motion in C MuJoCo.")
_VIDEO = flags.DEFINE_string("video", None, "Write an .mp4 (or .gif) here instead of opening the viewer.")
_SPEED = flags.DEFINE_float("speed", 1.0, "Playback speed in the viewer.")
_GHOST = flags.DEFINE_boolean("ghost", True, "Draw the reference motion as a translucent robot.")
_OVERWRITE = cli.define_overwrite()

KEY_SPACE, KEY_BACKSPACE, KEY_RIGHT, KEY_DOWN, KEY_UP = 32, 259, 262, 264, 265
HUMAN_BESIDE_M = 0.9  # how far to the side the human skeleton is drawn
FALLEN_PELVIS_HEIGHT_M = 0.4  # a live policy's robot with its pelvis this low has fallen (standing: 0.79)


def has_display() -> bool:
    """Whether a window can be opened (an X or Wayland display, or macOS / Windows)."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def check_inputs(paths: dict[str, str | None]) -> None:
    """Refuses a missing input file, or a flag combination that names nothing to show, in one line."""
    for flag, path in paths.items():
        if path is not None and not pathlib.Path(path).is_file():
            raise InputError(f"--{flag}={path}: no such file")
    if paths["policy"] and not paths["motion"]:
        raise app.UsageError("--policy needs --motion (the reference motion to track)")
    if not (paths["motion"] or paths["rollout"]):
        raise app.UsageError("give --motion (a retargeted motion), --rollout (a saved rollout) or --policy with "
                             "--motion")
    if paths["human"] and not paths["motion"]:
        raise app.UsageError("--human needs --motion (the retargeted motion it belongs to)")


@dataclasses.dataclass(frozen=True)
class Rollout:
    """A saved rollout: simulated qpos [T, 36] at `fps`, the frame it failed at (or None), reference keypoints."""

    qpos: np.ndarray
    fps: float
    failed_at: int | None
    reference_keypoints: np.ndarray


def load_rollout(path: str) -> Rollout:
    """Reads a rollout written by `genmimic_jax.eval.evaluate.write_report`; `InputError` in one line otherwise."""
    from genmimic_jax.human.motion import read_npz
    from genmimic_jax.robot.g1 import constants

    arrays = read_npz(path, InputError)
    missing = [key for key in ("qpos", "fps", "reference_keypoints") if key not in arrays]
    if missing:
        raise InputError(f"{path}: not a rollout (missing {', '.join(missing)})")
    qpos, fps = np.asarray(arrays["qpos"], np.float64), float(arrays["fps"])
    if qpos.ndim != 2 or qpos.shape[1] != constants.QPOS_SIZE or not np.isfinite(qpos).all() or not fps > 0:
        raise InputError(f"{path}: qpos {qpos.shape} or fps {fps} is not a G1 trajectory")
    failed_at = int(arrays.get("failed_at", -1))
    return Rollout(qpos, fps, failed_at if failed_at >= 0 else None, np.asarray(arrays["reference_keypoints"]))


def run_policy(policy_path: str, motion) -> tuple[np.ndarray, float, int | None, np.ndarray, np.ndarray]:
    """Runs the ONNX policy on `motion` in C MuJoCo (no early stop): qpos, control rate, fall frame, reference qpos
    and goal keypoints at that rate."""
    from genmimic_jax.envs.motion_lib import MotionLib
    from genmimic_jax.export import sim2sim
    from genmimic_jax.robot.g1 import model as g1_model

    policy = sim2sim.OnnxPolicy(policy_path)
    fps = 1.0 / policy.control_dt
    lib = MotionLib.from_clips([motion], fps=fps)
    reference, goals = lib.clip_frames(0), lib.clip_goals(0)
    substeps = int(round(policy.control_dt / g1_model.load_model().opt.timestep))
    result = sim2sim.run(policy_path, reference.qpos, reference.qvel, goals, substeps)
    fallen = np.flatnonzero(result.qpos[:, 2] < FALLEN_PELVIS_HEIGHT_M)
    return result.qpos, fps, int(fallen[0]) if len(fallen) else None, reference.qpos, goals


def scene_tracks(render):
    """The `render.Tracks` and frame rate of what the flags ask for."""
    from genmimic_jax.human.motion import load_npz
    from genmimic_jax.retarget.io import load_robot_motion

    motion = load_robot_motion(_MOTION.value) if _MOTION.value else None
    if _POLICY.value:
        qpos, fps, failed_at, reference_qpos, goals = run_policy(_POLICY.value, motion)
        return render.Tracks(qpos, reference_qpos if _GHOST.value else None, goals, None, failed_at), fps, 0.0
    if _ROLLOUT.value:
        rollout = load_rollout(_ROLLOUT.value)
        show_ghost = motion is not None and _GHOST.value
        reference = render.at_rate(motion.qpos, motion.fps, rollout.fps) if show_ghost else None
        return render.Tracks(rollout.qpos, reference, rollout.reference_keypoints, None,
                             rollout.failed_at), rollout.fps, 0.0
    skeleton = None
    if _HUMAN.value:
        human = load_npz(_HUMAN.value)
        skeleton = render.at_rate(render.human_skeleton(human), human.fps, motion.fps)
    return (render.Tracks(motion.qpos, None, motion.keypoints, skeleton), motion.fps,
            HUMAN_BESIDE_M if skeleton is not None else 0.0)


class Playback:
    """The viewer's clock: pause, single steps, speed and restart from the keyboard."""

    def __init__(self, count: int, fps: float, speed: float):
        self.count, self.fps, self.speed = count, fps, speed
        self.paused, self.frame, self._clock = False, 0.0, time.perf_counter()

    def on_key(self, key: int) -> None:
        if key == KEY_SPACE:
            self.paused = not self.paused
        elif key == KEY_RIGHT and self.paused:
            self.frame = min(self.frame + 1, self.count - 1)
        elif key == KEY_UP:
            self.speed *= 2.0
        elif key == KEY_DOWN:
            self.speed /= 2.0
        elif key == KEY_BACKSPACE:
            self.frame = 0.0

    def tick(self) -> int:
        """The frame to show now."""
        now = time.perf_counter()
        if not self.paused:
            self.frame = min(self.frame + (now - self._clock) * self.fps * self.speed, self.count - 1)
        self._clock = now
        return int(self.frame)


def show(tracks, fps: float, beside: float) -> None:
    """Plays `tracks` in MuJoCo's passive viewer until its window is closed."""
    import mujoco
    import mujoco.viewer

    from genmimic_jax.robot.g1 import render_model
    from genmimic_jax.viz import render

    model = render_model.load_render_model()
    data, reference = mujoco.MjData(model), mujoco.MjData(model)
    style = render.VideoStyle()
    offset = beside * render.camera_right(style.azimuth)
    playback = Playback(tracks.num_frames, fps, _SPEED.value)
    print("viewer: space pause, right arrow step, up/down speed, backspace restart; close the window to quit")
    with mujoco.viewer.launch_passive(model, data, key_callback=playback.on_key) as viewer:
        while viewer.is_running():
            t = playback.tick()
            with viewer.lock():
                render.pose(model, data, render.frame_of(tracks.qpos, t))
                viewer.user_scn.ngeom = 0
                if tracks.reference_qpos is not None:
                    render.pose(model, reference, render.frame_of(tracks.reference_qpos, t))
                    render.add_ghost(viewer.user_scn, model, reference, style.ghost_rgba)
                if tracks.points is not None:
                    render.add_points(viewer.user_scn, render.frame_of(tracks.points, t), style.point_radius,
                                      style.point_rgba)
                if tracks.skeleton is not None:
                    render.add_skeleton(viewer.user_scn, render.frame_of(tracks.skeleton, t) + offset,
                                        style.skeleton_radius, style.skeleton_rgba)
            viewer.sync()
            time.sleep(1.0 / 120.0)


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    check_inputs({"motion": _MOTION.value, "human": _HUMAN.value, "rollout": _ROLLOUT.value, "policy": _POLICY.value})
    if _VIDEO.value is None and not has_display():
        raise InputError("no display to open the viewer on (DISPLAY is unset); write a video instead with "
                         "--video=out.mp4")
    if _VIDEO.value is not None:
        from genmimic_jax.viz import gl  # before anything imports mujoco

        if gl.select_gl_backend() is None:
            raise InputError(f"--video: {gl.MISSING_HINT}")
    from genmimic_jax.viz import render

    try:
        tracks, fps, beside = scene_tracks(render)
        if _VIDEO.value is None:
            show(tracks, fps, beside)
            return 0
        count = render.write_video(render.iter_frames(tracks, fps, render.VideoStyle(skeleton_beside=beside)), fps,
                                   _VIDEO.value, _OVERWRITE.value)
    except render.RenderUnavailable as error:
        raise InputError(str(error)) from None
    print(f"-> {_VIDEO.value} ({count} frames at {fps:g} fps)")
    return 0


if __name__ == "__main__":
    cli.run(main)
