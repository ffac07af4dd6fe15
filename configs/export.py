"""ONNX export of a trained policy.

    python -m experiments.export --config.checkpoint=runs/student --config.output=policy.onnx
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.checkpoint = ""  # run directory of experiments.train (teacher) or experiments.distill (student)
    config.policy = "auto"  # 'auto' (the run's own policy) | 'teacher' | 'student' (from a student run)
    config.step = -1  # checkpoint step; negative: the latest
    config.output = ""  # the .onnx file; default <checkpoint>/policy_<kind>.onnx
    config.parity_samples = 256  # random observations the exported model is checked on against JAX
    config.parity_tolerance = 1e-5
    return config
