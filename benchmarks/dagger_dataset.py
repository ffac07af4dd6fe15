"""DAgger with an aggregated dataset against on-policy DAgger (latest rollout only), side by side on the toy task.

Trains one PPO teacher, then distils it with each `dagger.dataset_rollouts` value from the same seeds for the
same number of updates, and evaluates every final student acting alone (no teacher mixing) from the same
initial states: its action error against the teacher (MSE on the states it visits), the return and length of
the episodes that end during the evaluation, and the tracking error. The teacher is evaluated the same way.

    python -m benchmarks.dagger_dataset --updates=30 --seeds=3
"""

import pathlib
import tempfile

import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags

from configs import distill as distill_config
from configs import train as train_config
from genmimic_jax.rl import dagger, env_factory, ppo, runner
from genmimic_jax.rl.metrics_log import read_scalars
from genmimic_jax.rl.policy import Policy, load_policy, policy_of
from genmimic_jax.rl.rollout import init_rollout_state, rollout

_DATASET_ROLLOUTS = flags.DEFINE_list("dataset_rollouts", ["1", str(distill_config.get_config().dagger.dataset_rollouts)],
                                      "ring sizes to compare")
_UPDATES = flags.DEFINE_integer("updates", 30, "DAgger updates of every student")
_SEEDS = flags.DEFINE_integer("seeds", 3, "distillation seeds per ring size (the same seeds for each)")
_TEACHER_UPDATES = flags.DEFINE_integer("teacher_updates", 30, "PPO updates of the teacher")
_EVAL_STEPS = flags.DEFINE_integer("eval_steps", 300, "control steps of the evaluation rollout (episodes: 100)")
_NUM_ENVS = flags.DEFINE_integer("num_envs", 64, "environments")


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as runs_dir:
        compare(pathlib.Path(runs_dir))


def compare(runs_dir: pathlib.Path) -> None:
    """Trains the teacher and the students in run directories under `runs_dir` and prints the comparison."""
    teacher_config = train_config.get_config("toy")
    teacher_config.env.num_envs = _NUM_ENVS.value
    teacher_config.network.actor_hidden = teacher_config.network.critic_hidden = (64, 64)
    teacher_config.ppo.rollout_length = 32
    teacher_config.ppo.num_updates = _TEACHER_UPDATES.value
    teacher_config.symmetry.actor_coef = 1.0
    teacher_config.run.updates_per_chunk = _TEACHER_UPDATES.value
    env = env_factory.make_env(teacher_config)
    runner.run(ppo.make_ppo(teacher_config, env), teacher_config, runs_dir / "teacher", _TEACHER_UPDATES.value,
               env.num_envs)
    teacher = load_policy(runs_dir / "teacher").policy

    config = distill_config.get_config()
    config.network.actor_hidden = (64, 64)
    config.dagger.num_updates = _UPDATES.value
    config.run.updates_per_chunk = _UPDATES.value
    act_teacher = teacher.inference_fn()

    @jax.jit
    def evaluate(student, use_teacher):
        """Student (or teacher) acting alone from fixed initial states; scalar metrics."""
        act_student = student.inference_fn()

        def policy(obs, _):
            label, action = act_teacher(obs[teacher.obs_key]), act_student(obs[student.obs_key])
            return jnp.where(use_teacher, label, action), {"error": jnp.mean((action - label) ** 2, axis=-1)}

        state = init_rollout_state(env, jax.random.PRNGKey(1234))
        _, traj, metrics = rollout(env, policy, state, jax.random.PRNGKey(0), _EVAL_STEPS.value)
        return {"action_mse": jnp.mean(traj.extras["error"]), "return": metrics["episode/return"],
                "length": metrics["episode/length"], "keypoint_error": metrics["env/keypoint_error"]}

    def show(name, values):
        print(f"{name:<22}" + "  ".join(f"{key} {np.mean(v):.4g} ± {np.std(v):.2g}" for key, v in values.items()))

    print(f"toy task, {env.num_envs} envs; teacher: {_TEACHER_UPDATES.value} PPO updates; students: "
          f"{_UPDATES.value} DAgger updates (rollout {config.dagger.rollout_length}, beta decay "
          f"{config.dagger.beta_decay}), seeds 0..{_SEEDS.value - 1}; evaluation {_EVAL_STEPS.value} steps alone")
    fresh = dagger.make_dagger(config, env, teacher).init(jax.random.PRNGKey(0))
    teacher_eval = jax.tree.map(float, evaluate(student_policy(config, fresh), True))
    show("teacher", {key: [v] for key, v in teacher_eval.items() if key != "action_mse"})
    show("untrained student", jax.tree.map(lambda v: [float(v)], evaluate(student_policy(config, fresh), False)))
    for capacity in map(int, _DATASET_ROLLOUTS.value):
        config.dagger.dataset_rollouts = capacity
        algorithm = dagger.make_dagger(config, env, teacher)
        results, seconds = [], []
        for seed in range(_SEEDS.value):
            config.seed = seed
            run_dir = runs_dir / f"student_{capacity}_{seed}"
            state, metrics = runner.run(algorithm, config, run_dir, _UPDATES.value, env.num_envs)
            # The run's own timing leaves out compilation.
            seconds.append(env.num_envs * config.dagger.rollout_length
                           / read_scalars(run_dir / "logs")["time/env_steps_per_s"][1][-1])
            final = evaluate(student_policy(config, state), False)
            final["train_action_mse_last"] = metrics["distill/action_error"][-1]
            results.append(jax.tree.map(float, final))
        values = {key: [r[key] for r in results] for key in results[0]}
        values["s_per_update"] = seconds
        show(f"dataset_rollouts={capacity}", values)



def student_policy(config: ml_collections.ConfigDict, state: dagger.DAggerState) -> Policy:
    """The student of a distillation state (what `load_policy` reads from its run)."""
    return policy_of(flax.serialization.to_state_dict(state), config.to_dict(), "student")

if __name__ == "__main__":
    app.run(main)
