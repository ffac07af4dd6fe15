"""Left/right mirror maps for flat observation and action vectors.

A `MirrorMap` reflects a vector through the robot"s sagittal plane: entry `i` of the
mirrored vector is `sign[i] * x[perm[i]]` (left and right entries swap, lateral
components flip sign). Mirroring twice must give back the input (an involution).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class MirrorMap:
    """A signed permutation `x -> x[..., perm] * sign` over the last axis.

    Attributes:
        perm: int array [D], source index of each output entry.
        sign: float array [D] of +1/-1, applied after the permutation.
    """

    perm: np.ndarray
    sign: np.ndarray

    def __post_init__(self):
        perm = np.asarray(self.perm, dtype=np.int32)
        sign = np.asarray(self.sign, dtype=np.float32)
        if perm.ndim != 1 or sign.shape != perm.shape:
            raise ValueError(f"MirrorMap needs 1-D perm and sign of equal length, got {perm.shape} and {sign.shape}")
        if not np.array_equal(np.sort(perm), np.arange(perm.size)):
            raise ValueError(f"MirrorMap perm is not a permutation of range({perm.size})")
        if not np.all(np.abs(sign) == 1.0):
            raise ValueError("MirrorMap sign entries must be +1 or -1")
        object.__setattr__(self, "perm", perm)
        object.__setattr__(self, "sign", sign)

    @property
    def size(self) -> int:
        return int(self.perm.size)

    def apply(self, x):
        """Mirrors `x` (numpy or JAX array) along its last axis."""
        return x[..., self.perm] * self.sign

    def compose(self, other: MirrorMap) -> MirrorMap:
        """The map `x -> self.apply(other.apply(x))`."""
        if other.size != self.size:
            raise ValueError(f"cannot compose MirrorMaps of sizes {self.size} and {other.size}")
        return MirrorMap(perm=other.perm[self.perm], sign=other.sign[self.perm] * self.sign)

    def is_involution(self) -> bool:
        """True when mirroring twice is the identity."""
        twice = self.compose(self)
        return bool(np.array_equal(twice.perm, np.arange(self.size)) and np.all(twice.sign == 1.0))

    def __eq__(self, other) -> bool:
        return (isinstance(other, MirrorMap) and np.array_equal(self.perm, other.perm)
                        and np.array_equal(self.sign, other.sign))

    __hash__ = None

    @classmethod
    def identity(cls, size: int) -> MirrorMap:
        """Leaves all `size` entries in place (e.g. for heights or yaw-free scalars)."""
        return cls(perm=np.arange(size), sign=np.ones(size))

    @classmethod
    def vector3(cls) -> MirrorMap:
        """A 3-D vector mirrored through the x-z plane: y flips (positions, linear velocities)."""
        return cls(perm=np.arange(3), sign=np.array([1.0, -1.0, 1.0]))

    @classmethod
    def axial3(cls) -> MirrorMap:
        """A 3-D axial vector (angular velocity) mirrored through the x-z plane: x and z flip."""
        return cls(perm=np.arange(3), sign=np.array([-1.0, 1.0, -1.0]))

    def tile(self, count: int) -> MirrorMap:
        """This map applied independently to `count` consecutive blocks (e.g. a history stack)."""
        return concat([self] * count)

    def over_items(self, item_map: MirrorMap) -> MirrorMap:
        """Items permuted by `self` (one entry per item), each item"s features mirrored by `item_map`.

        For example keypoints [K, 3] flattened to K*3: `MirrorMap(kp_perm, ones).over_items(vector3())`.
        """
        size = item_map.size
        perm = (self.perm[:, None] * size + item_map.perm[None, :]).reshape(-1)
        sign = (self.sign[:, None] * item_map.sign[None, :]).reshape(-1)
        return MirrorMap(perm=perm, sign=sign)


def concat(maps: Sequence[MirrorMap]) -> MirrorMap:
    """The block-diagonal map over the concatenation of vectors mirrored by `maps`."""
    perms, signs, offset = [], [], 0
    for mirror_map in maps:
        perms.append(mirror_map.perm + offset)
        signs.append(mirror_map.sign)
        offset += mirror_map.size
    if not perms:
        return MirrorMap(perm=np.zeros(0, np.int32), sign=np.zeros(0, np.float32))
    return MirrorMap(perm=np.concatenate(perms), sign=np.concatenate(signs))
