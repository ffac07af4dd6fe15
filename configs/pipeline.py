"""The main job: human motion -> ingest -> retarget -> policy -> evaluation -> ONNX export -> sim-to-sim -> video.

    python -m experiments.pipeline [--config.input=motion.bvh] [--config.checkpoint=runs/student]

When no policy is given, a teacher and a student are trained with the CPU recipes (`configs/train.py:g1_cpu` and
`configs/distill.py:cpu`) for `train_minutes` of wall clock: the default suits the built-in clip (the whole job takes
about 10 minutes on a 2-core CPU); a real clip wants more, e.g. --config.train_minutes=30 for a walk.
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

    # Teacher PPO on the retargeted clip, then DAgger, with the CPU recipes; two thirds of the time to the teacher.
    # (`quick_g1_run`'s default-pose offsets and 0.1 m keypoint termination end every episode of a real walk within
    # 0.2 s: nothing is learned; benchmarks/RESULTS.md.)
    config.train_minutes = 6.0
    config.teacher = configs.train.get_config("g1_cpu")
    config.teacher.name = "teacher"
    # Checkpoints every 30 updates: the student learns from the one that tracks the clip best (a teacher can drift
    # late in its minutes; benchmarks/RESULTS.md).
    config.teacher.run.checkpoint_every_chunks = 3
    config.student = configs.distill.get_config("cpu")
    config.student.name = "student"

    config.evaluate = configs.evaluate.get_config()
    config.evaluate.noise_suite = True
    config.evaluate.noise_seeds = 3  # a noise-suite row is a sample of random artefacts: its spread over three seeds
    config.sim2sim_reference = "evaluation"  # compare the ONNX run with: 'evaluation' (the run above) | 'mjx'
    config.video_format = "mp4"  # 'mp4' | 'gif'
    return config
