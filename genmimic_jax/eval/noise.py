"""Generated-video artefacts applied to goal keypoint trajectories: the evaluation noise suite.

Every corruption is a pure function `(keypoints [T, K, 3], fps, severity, seed) -> [T, K, 3]` of numpy arrays,
reproducible from its seed, the identity at severity 0. `SEVERITIES` lists the levels the suite runs; the unit of
a level is the corruption's own (metres, a fraction, metres per second).
"""

from collections.abc import Callable, Sequence

import numpy as np

from genmimic_jax.envs import observations
from genmimic_jax.robot.g1 import constants

Corruption = Callable[[np.ndarray, float, float, int], np.ndarray]

# Where the virtual camera of `depth_error` stands: this far in front (+x) of the subject's mean pelvis, this high.
CAMERA_DISTANCE = 4.0
CAMERA_HEIGHT = 1.2
# Correlation time (s) of the slowly varying parts (depth offset of the whole body).
SLOW_TIME = 1.0


def _check(keypoints: np.ndarray) -> np.ndarray:
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim != 3 or keypoints.shape[-1] != 3 or keypoints.shape[0] < 1:
        raise ValueError(f"goal keypoints must have shape [T, K, 3] with T >= 1, got {keypoints.shape}")
    return keypoints


def _smooth_noise(rng: np.random.Generator, frames: int, fps: float, shape: tuple[int, ...] = ()) -> np.ndarray:
    """Unit-variance noise [frames, *shape] correlated over about `SLOW_TIME` seconds (an AR(1) process)."""
    decay = np.exp(-1.0 / max(SLOW_TIME * fps, 1.0))
    innovations = rng.normal(size=(frames,) + shape) * np.sqrt(1.0 - decay**2)
    out = np.empty_like(innovations)
    out[0] = rng.normal(size=shape)
    for t in range(1, frames):
        out[t] = decay * out[t - 1] + innovations[t]
    return out


def jitter(keypoints: np.ndarray, fps: float, severity: float, seed: int) -> np.ndarray:
    """Frame-to-frame flicker: independent Gaussian noise of std `severity` metres on every coordinate."""
    del fps
    keypoints = _check(keypoints)
    return keypoints + severity * np.random.default_rng(seed).normal(size=keypoints.shape)


def limb_length(keypoints: np.ndarray, fps: float, severity: float, seed: int) -> np.ndarray:
    """Morphology distortion: every bone of the keypoint chain scaled by its own factor 1 + N(0, severity).

    The factors hold for the whole clip (a wrongly proportioned body); the root keypoint stays where it is and each
    child follows its parent's new position (`observations.scale_bones`).
    """
    del fps
    keypoints = _check(keypoints)
    factors = np.clip(1.0 + severity * np.random.default_rng(seed).normal(size=keypoints.shape[1]), 0.2, None)
    return observations.scale_bones(keypoints, factors)


def drift(keypoints: np.ndarray, fps: float, severity: float, seed: int) -> np.ndarray:
    """Slow global drift: the whole body slides horizontally at `severity` m/s in a random, fixed direction."""
    keypoints = _check(keypoints)
    heading = np.random.default_rng(seed).uniform(0.0, 2.0 * np.pi)
    velocity = severity * np.array([np.cos(heading), np.sin(heading), 0.0])
    seconds = np.arange(keypoints.shape[0]) / fps
    return keypoints + seconds[:, None, None] * velocity


def frame_drops(keypoints: np.ndarray, fps: float, severity: float, seed: int) -> np.ndarray:
    """Dropped frames: each frame after the first is lost with probability `severity`; the last frame received
    is shown again in its place (a duplicate), so the clip keeps its length and frame rate."""
    del fps
    keypoints = _check(keypoints)
    frames = keypoints.shape[0]
    received = np.concatenate([[True], np.random.default_rng(seed).uniform(size=frames - 1) >= severity])
    source = np.maximum.accumulate(np.where(received, np.arange(frames), 0))
    return keypoints[source]


def depth_error(keypoints: np.ndarray, fps: float, severity: float, seed: int,
                keypoint_names: Sequence[str] = constants.KEYPOINT_NAMES) -> np.ndarray:
    """Monocular depth error: keypoints slide along the ray to a virtual camera in front of the subject.

    The whole body moves by a slowly varying depth offset of std `severity` metres, each keypoint by a further
    independent offset of std `severity / 2`.
    """
    keypoints = _check(keypoints)
    rng = np.random.default_rng(seed)
    frames, count = keypoints.shape[:2]
    pelvis = keypoints[:, list(keypoint_names).index("pelvis")].mean(axis=0)
    camera = np.array([pelvis[0] + CAMERA_DISTANCE, pelvis[1], CAMERA_HEIGHT])
    rays = keypoints - camera
    rays /= np.maximum(np.linalg.norm(rays, axis=-1, keepdims=True), 1e-9)
    depth = severity * _smooth_noise(rng, frames, fps)[:, None] + 0.5 * severity * rng.normal(size=(frames, count))
    return keypoints + depth[..., None] * rays


CORRUPTIONS: dict[str, Corruption] = {
    "jitter": jitter,
    "limb_length": limb_length,
    "drift": drift,
    "frame_drops": frame_drops,
    "depth_error": depth_error,
}
SEVERITIES: dict[str, tuple[float, ...]] = {
    "jitter": (0.01, 0.02, 0.04),  # m
    "limb_length": (0.05, 0.1, 0.2),  # relative bone-length std
    "drift": (0.05, 0.1, 0.2),  # m/s
    "frame_drops": (0.05, 0.1, 0.2),  # probability per frame
    "depth_error": (0.05, 0.1, 0.2),  # m
}


def corrupt(name: str, keypoints: np.ndarray, fps: float, severity: float, seed: int) -> np.ndarray:
    """Applies the corruption `name` (a key of `CORRUPTIONS`); returns float32 like the motion files."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; known: {sorted(CORRUPTIONS)}")
    return CORRUPTIONS[name](keypoints, fps, severity, seed).astype(np.float32)


def suite(levels: dict[str, Sequence[float]] | None = None) -> list[tuple[str, float]]:
    """The (corruption, severity) pairs to evaluate, in a fixed order: `SEVERITIES` unless `levels` is given."""
    levels = SEVERITIES if levels is None else levels
    return [(name, float(level)) for name in CORRUPTIONS if name in levels for level in levels[name]]
