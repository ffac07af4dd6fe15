"""The canonical human skeleton: SMPL's 24 joints, with SMPL's names and kinematic tree."""

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

NUM_JOINTS = len(SMPL_JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


def mirror_name(name: str) -> str:
    """The left/right mirror of a joint name (`left_knee` <-> `right_knee`; centre joints map to themselves)."""
    if name.startswith("left_"):
        return "right_" + name[len("left_"):]
    if name.startswith("right_"):
        return "left_" + name[len("right_"):]
    return name


MIRROR_INDEX: tuple[int, ...] = tuple(JOINT_INDEX[mirror_name(n)] for n in SMPL_JOINT_NAMES)
