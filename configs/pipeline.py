"""The main job: human motion -> ingest -> retarget -> policy -> evaluation -> ONNX export -> sim-to-sim -> video.

    python -m experiments.pipeline [--config.input=motion.bvh] [--config.checkpoint=runs/student]

Sizes are chosen so the whole job, including training a small teacher and student when no policy is given, runs in
about 15 minutes on a 2-core CPU.
"""

import ml_collections

import configs.distill
import configs.evaluate
import configs.ingest
import configs.retarget
import configs.train


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.input = ""  # a human motion file (BVH, keypoints .json/.npz, SMPL .npz/.pkl); empty: the built-in motion
    config.output_dir = "outputs/pipeline"  # everything goes here
    config.checkpoint = ""  # run directory of a trained student (or teacher) policy; empty: train one (or reuse)
    config.retrain = False  # train again even if output_dir holds a policy from an earlier run
    config.builtin_seconds = 4.0  # length of the built-in motion

    config.ingest = configs.ingest.get_config()
    config.retarget = configs.retarget.get_config()

    # Teacher PPO on the retargeted clip, then DAgger; small enough for a CPU.
    config.teacher = configs.train.quick_g1_run(configs.train.get_config("g1_tracking"), num_updates=60)
    config.teacher.name = "teacher"
    config.teacher.run.updates_per_chunk = 10
    config.teacher.run.checkpoint_every_chunks = 2
    config.student = configs.distill.get_config()
    config.student.name = "student"
    config.student.dagger.num_updates = 30
    config.student.run.updates_per_chunk = 10
    config.student.run.checkpoint_every_chunks = 2

    config.evaluate = configs.evaluate.get_config()
    config.evaluate.noise_suite = True
    config.sim2sim_reference = "evaluation"  # compare the ONNX run with: 'evaluation' (the run above) | 'mjx'
    config.video_format = "mp4"  # 'mp4' | 'gif'
    return config
