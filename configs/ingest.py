"""Human motion ingest: any supported source file (or folder of them) to canonical `.npz` motions.

    python -m experiments.ingest --input=clip.bvh --output=clip.npz --config.fps=50
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.fps = 0.0  # resample to this frame rate; 0 keeps the source's
    config.start_s = 0.0  # trim: first kept time, seconds from the clip start
    config.end_s = -1.0  # trim: last kept time, seconds from the clip start; negative keeps to the end
    config.up_axis = "auto"  # BVH / keypoints: 'auto' | 'z' | 'y' | '-y'
    config.unit = "auto"  # BVH / keypoints: 'auto' | 'm' | 'cm' | 'mm' | 'inch' | 'cmu' | metres per unit
    config.name_map = ""  # BVH / keypoints: JSON file {source joint name: SMPL joint name or null}
    config.on_floor = True  # BVH / keypoints: put the lowest foot point of the clip at z=0
    config.source_fps = 0.0  # SMPL lifter results (no frame rate stored): the video's fps; 0 uses the default (30)
    config.model_dir = ""  # SMPL parameter sources: folder holding the SMPL / SMPL-X model files
    return config
