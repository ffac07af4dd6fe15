"""Trains a teacher (or a direct student) with PPO; resumes when the run directory has checkpoints.

    python -m experiments.train --config=configs/train.py:g1_tracking --config.name=teacher \\
        [--config.motion_dir=retargeted/] [--config.ppo.num_updates=2000] [--config.symmetry.actor_coef=0.5]

Writes runs/<name>/config.json, checkpoints/ and logs/ (TensorBoard; plot with experiments.plot_logs).
"""

from absl import app
from ml_collections import config_flags

import configs.train
from genmimic_jax.rl.launch import run_from_command_line, train

_CONFIG = config_flags.DEFINE_config_file("config", configs.train.__file__, "Training config.")


def main(argv):
    del argv
    run_from_command_line(train, _CONFIG.value)


if __name__ == "__main__":
    app.run(main)
