"""Limits on what the project reads: far beyond any real file, so a hostile or broken one is refused early.

Each `check_*` raises `LimitError` naming the file, the quantity and the allowed range. README ("Limits") lists them.
"""

import math

from genmimic_jax.errors import InputError, LimitError

# Frame rates: motion capture records at up to ~480 fps and video lifters at up to 240.
MIN_FPS, MAX_FPS = 1.0, 1000.0
# Frames in one clip: an hour at 100 fps.
MAX_FRAMES = 360_000
# Bytes of one text file read whole (BVH, JSON keypoints) and of one array (npz member, pickle payload).
MAX_TEXT_BYTES = 1 << 30
MAX_ARRAY_BYTES = 1 << 31
# Bytes of all members of one .npz file, as its zip header declares them (SMPL-X model files are ~1 GB).
MAX_NPZ_BYTES = 1 << 32
# Nesting of BVH hierarchies (real rigs with fingers: ~30), JSON values and pickled containers.
MAX_NESTING_DEPTH = 128
# Containers (lists, dicts, object arrays) in one pickle, a shared reference counted as a copy (an SMPL model file
# has a few dozen, a lifter result a few per frame).
MAX_PICKLE_OBJECTS = 1_000_000
# Robot joint angles may leave the G1's joint range by this much (radians) before a robot motion is refused.
JOINT_RANGE_MARGIN = 0.5
# Parallel simulated environments in one run.
MIN_NUM_ENVS, MAX_NUM_ENVS = 1, 1 << 20


def check_range(name: str, what: str, value: float, low: float, high: float, unit: str = "",
                error_type: type[InputError] = LimitError) -> float:
    """`value` when it is a finite number in [low, high]; else `error_type` naming `name`, `what` and the range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise error_type(f"{name}: {what} must be a number in [{low:.7g}, {high:.7g}]{unit}, got {value!r}") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise error_type(f"{name}: {what} {number:.7g} is outside [{low:.7g}, {high:.7g}]{unit}")
    return number


def check_fps(name: str, fps: float, error_type: type[InputError] = LimitError) -> float:
    """A frame rate in [MIN_FPS, MAX_FPS]."""
    return check_range(name, "frame rate", fps, MIN_FPS, MAX_FPS, " fps", error_type)


def check_frames(name: str, num_frames: int, error_type: type[InputError] = LimitError) -> int:
    """A frame count in [1, MAX_FRAMES]."""
    return int(check_range(name, "frame count", num_frames, 1, MAX_FRAMES, "", error_type))


def check_depth(name: str, depth: int) -> None:
    """Refuses nesting deeper than MAX_NESTING_DEPTH."""
    if depth > MAX_NESTING_DEPTH:
        raise LimitError(f"{name}: nested deeper than {MAX_NESTING_DEPTH} levels")


def check_bytes(name: str, what: str, size: int, limit: int) -> None:
    """Refuses more than `limit` bytes of `what`."""
    if size > limit:
        raise LimitError(f"{name}: {what} of {size:,} bytes exceeds the limit of {limit:,} bytes")
