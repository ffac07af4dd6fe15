"""Builds the environment a training config names (`config.env_name`, `config.env`, `config.motion_dir`)."""

import pathlib

import ml_collections

from genmimic_jax.errors import InputError
from genmimic_jax.rl import toy_env

ENV_NAMES = ("toy", "g1_tracking")


class EnvConfigError(InputError):
    """The config names an unknown environment, or its motions cannot be loaded; the message says which."""


def default_env_config(env_name: str) -> ml_collections.ConfigDict:
    """The default `config.env` for `env_name`."""
    if env_name == "toy":
        return toy_env.default_config()
    if env_name == "g1_tracking":
        from genmimic_jax.envs import tracking

        return tracking.default_config()
    raise EnvConfigError(f"unknown env_name {env_name!r}; expected one of {ENV_NAMES}")


def stored_env_config(env_name: str, stored: dict) -> ml_collections.ConfigDict:
    """A run's stored `env` config over the defaults of `env_name`: keys added since the run take their defaults."""
    config = default_env_config(env_name)
    config.update(dict(stored))
    return config


def load_motion_lib(motion_dir: str, env_config: ml_collections.ConfigDict):
    """The tracking env's motion library: every retargeted `.npz` in `motion_dir` (sorted by name), or the
    built-in synthetic standing/arm-waving clip when `motion_dir` is empty; each clip weighted by its frame count to
    the power `env.motion.clip_duration_power`."""
    from genmimic_jax.envs.motion_lib import MotionLib
    from genmimic_jax.envs.synthetic_motion import synthetic_motion
    from genmimic_jax.retarget.io import RobotMotionError, load_robot_motions

    fps = 1.0 / env_config.ctrl_dt
    if not motion_dir:
        clips = [synthetic_motion(fps=fps)]
    else:
        folder = pathlib.Path(motion_dir)
        if not folder.is_dir():
            raise EnvConfigError(f"{folder}: motion_dir is not a folder")
        try:
            clips, _ = load_robot_motions(folder)
        except RobotMotionError as error:
            raise EnvConfigError(str(error)) from None
    return MotionLib.from_clips(clips, fps=fps, bin_seconds=env_config.motion.bin_seconds,
                                duration_power=env_config.motion.clip_duration_power)


def make_env(config: ml_collections.ConfigDict):
    """The batched environment for a training config.

    For the tracking env, `config.env.physics` 'auto' is resolved in place (the run's config.json records the back
    end that ran) and a line says which one runs.
    """
    if config.env_name == "toy":
        return toy_env.ToyTrackingEnv(config.env)
    if config.env_name == "g1_tracking":
        from genmimic_jax.envs import physics_backends
        from genmimic_jax.envs.tracking import TrackingEnv

        print(physics_backends.describe(config.env.physics, config.env.physics_threads), flush=True)
        config.env.physics = physics_backends.resolve(config.env.physics)
        return TrackingEnv(config.env, load_motion_lib(config.motion_dir, config.env))
    raise EnvConfigError(f"unknown env_name {config.env_name!r}; expected one of {ENV_NAMES}")
