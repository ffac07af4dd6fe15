"""Distils a trained teacher into a deployable student with DAgger; resumes like experiments.train.

    python -m experiments.distill --config=configs/distill.py --config.teacher_dir=runs/teacher \\
        --config.name=student [--config.dagger.num_updates=1000] [--config.num_envs=4096]

The student trains in the teacher's environment (its config.json) on the 'actor' observations.
"""

from absl import app
from ml_collections import config_flags

import configs.distill
from genmimic_jax.rl.launch import run_from_command_line, distill

_CONFIG = config_flags.DEFINE_config_file("config", configs.distill.__file__, "Distillation config.")


def main(argv):
    del argv
    run_from_command_line(distill, _CONFIG.value)


if __name__ == "__main__":
    app.run(main)
