"""The README's pictures, from the main job's outputs on the built-in motion (never from licensed clips).

    python -m experiments.pipeline                                  # writes outputs/pipeline/
    python -m experiments.make_readme_media [--pipeline_dir=outputs/pipeline] [--out_dir=docs/media]

Writes --out_dir/strip.png: frames spread over the clip in two rows; top, the human motion (orange skeleton) beside
the G1 retargeted to it; bottom, the G1 tracking it in simulation with the reference as a translucent ghost and the
goal keypoints in green. (A picture strip, not an animation: a GIF of these views is ~100 kB a frame.)
"""

from __future__ import annotations

import io
import pathlib

from absl import flags

from experiments import cli
from genmimic_jax.errors import InputError

_PIPELINE_DIR = flags.DEFINE_string("pipeline_dir", "outputs/pipeline", "The main job's output folder.")
_OUT_DIR = flags.DEFINE_string("out_dir", "docs/media", "Where the pictures go.")
_STRIP_FRAMES = flags.DEFINE_integer("strip_frames", 5, "Frames per row of the strip.")
_OVERWRITE = cli.define_overwrite()

NAME = "builtin_motion"  # the main job's name for its built-in motion
PANEL = (400, 300)  # width, height of one frame
BESIDE_M = 0.9
FPS = 30.0  # both views are sampled at this rate


def pipeline_files(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """The main job's human motion, retargeted motion and rollout of the built-in motion; refuses missing ones."""
    paths = {"human": folder / "human" / f"{NAME}.npz", "motion": folder / "retargeted" / f"{NAME}.npz",
             "rollout": folder / "evaluation" / "rollouts" / f"{NAME}.npz"}
    for path in paths.values():
        if not path.is_file():
            raise InputError(f"{path}: no such file; run `python -m experiments.pipeline` (on its built-in motion) "
                             "first")
    return paths


def views(paths: dict[str, pathlib.Path], fps: float):
    """The retarget view (robot and human) and the tracking view (simulated robot, ghost, goals), both at `fps`."""
    from experiments.view import load_rollout
    from genmimic_jax.human.motion import load_npz
    from genmimic_jax.retarget.io import load_robot_motion
    from genmimic_jax.viz import render

    human, motion, rollout = load_npz(paths["human"]), load_robot_motion(paths["motion"]), load_rollout(
        str(paths["rollout"]))
    retarget = render.Tracks(render.at_rate(motion.qpos, motion.fps, fps), None, None,
                             render.at_rate(render.human_skeleton(human), human.fps, fps))
    failed_at = None if rollout.failed_at is None else int(round(rollout.failed_at * fps / rollout.fps))
    tracking = render.Tracks(render.at_rate(rollout.qpos, rollout.fps, fps),
                             render.at_rate(motion.qpos, motion.fps, fps),
                             render.at_rate(rollout.reference_keypoints, rollout.fps, fps), None, failed_at)
    return retarget, tracking


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    paths = pipeline_files(pathlib.Path(_PIPELINE_DIR.value))
    from genmimic_jax.viz import gl

    if gl.select_gl_backend() is None:
        raise InputError(gl.MISSING_HINT)
    import numpy as np
    from PIL import Image

    from genmimic_jax import files
    from genmimic_jax.viz import render

    retarget, tracking = views(paths, FPS)
    width, height = PANEL
    retarget_style = render.VideoStyle(width=width, height=height, skeleton_beside=BESIDE_M, distance=2.7)
    tracking_style = render.VideoStyle(width=width, height=height, distance=2.2)
    count = min(retarget.num_frames, tracking.num_frames)
    picks = np.linspace(0, count - 1, _STRIP_FRAMES.value).round().astype(int)
    rows = [np.concatenate(list(render.iter_frames(tracks, FPS, style, picks)), axis=1)
            for tracks, style in ((retarget, retarget_style), (tracking, tracking_style))]
    strip = io.BytesIO()
    Image.fromarray(np.concatenate(rows, axis=0)).quantize(256).save(strip, format="PNG", optimize=True)
    path = files.write_atomic(pathlib.Path(_OUT_DIR.value) / "strip.png", lambda file: file.write(strip.getvalue()),
                              "png", overwrite=_OVERWRITE.value)
    print(f"-> {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    cli.run(main)
