"""genmimic_jax: human motion from (generated) video to physically plausible Unitree G1 trajectories.

Pipeline, one subpackage per stage:
  human     -> canonical 4D-human trajectories (BVH, SMPL/SMPL-X, raw keypoints) and a JAX body model
  robot     -> the Unitree G1 (29 DoF) model and its constants
  retarget  -> differentiable whole-trajectory retargeting of human motion to the G1
  envs      -> the vectorised MJX motion-tracking environment
  rl        -> PPO teacher with the symmetry loss, DAgger student
  eval      -> metrics, rollouts and the generated-video noise suite
  export    -> ONNX export and sim-to-sim checks
  viz       -> rendering and plots
"""

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import sys

__version__ = "0.1.0"


class _QuietLoader(importlib.abc.Loader):
    """Runs another loader with stdout muted."""

    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self._loader.exec_module(module)


class _QuietMjxWarp(importlib.abc.MetaPathFinder):
    """Imports `mujoco.mjx.warp` with stdout muted.

    mujoco-mjx imports its optional NVIDIA Warp back end (unused here) at import and, without Warp installed, prints
    "Failed to import warp: No module named 'warp'" (and the same for mujoco_warp) on every command.
    """

    def find_spec(self, name, path, target=None):
        if name != "mujoco.mjx.warp":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


if importlib.util.find_spec("warp") is None:
    sys.meta_path.insert(0, _QuietMjxWarp())
