"""Distils a trained teacher into a deployable student with DAgger; resumes like experiments.train.

    python -m experiments.distill --config=configs/distill.py --config.teacher_dir=runs/teacher \\
        --config.name=student [--config.dagger.num_updates=1000] [--config.num_envs=4096]

The student trains in the teacher's environment (its config.json) on the 'actor' observations.
"""

import sys

from absl import app, logging
from ml_collections import config_flags

import configs.distill
from genmimic_jax.rl.experiments import USER_ERRORS, distill

_CONFIG = config_flags.DEFINE_config_file("config", configs.distill.__file__, "Distillation config.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint file at INFO
    try:
        run_dir = distill(_CONFIG.value)
    except USER_ERRORS as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(1)
    print(f"done: {run_dir}")


if __name__ == "__main__":
    app.run(main)
