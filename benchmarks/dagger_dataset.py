"""DAgger with an aggregated dataset against on-policy DAgger (latest rollout only), side by side on the toy task.

Trains one PPO teacher, then distils it with each `dagger.dataset_rollouts` value from the same seeds for the
same number of updates, and evaluates every final student acting alone (no teacher mixing) from the same
initial states: its action error against the teacher (MSE on the states it visits), the return and length of
the episodes that end during the evaluation, and the tracking error. The teacher is evaluated the same way.

    python -m benchmarks.dagger_dataset --updates=30 --seeds=3
"""

import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags

from configs import distill as distill_config
from configs import train as train_config
from genmimic_jax.rl import dagger, env_factory, normalization, ppo
from genmimic_jax.rl.networks import make_actor
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
    teacher_config = train_config.get_config("toy")
    teacher_config.env.num_envs = _NUM_ENVS.value
    teacher_config.network.actor_hidden = teacher_config.network.critic_hidden = (64, 64)
    teacher_config.ppo.rollout_length = 32
    teacher_config.ppo.num_updates = _TEACHER_UPDATES.value
    teacher_config.symmetry.actor_coef = 1.0
    env = env_factory.make_env(teacher_config)
    ppo_state, _ = jax.jit(ppo.make_train(teacher_config, env))(jax.random.PRNGKey(0))
    teacher = dagger.teacher_from_ppo(ppo_state.params, ppo_state.normalizer, teacher_config.ppo.actor_obs)

    config = distill_config.get_config()
    config.network.actor_hidden = (64, 64)
    config.dagger.num_updates = _UPDATES.value
    config.teacher = ml_collections.ConfigDict({"network": teacher_config.network.to_dict(),
                                                "actor_obs": teacher_config.ppo.actor_obs,
                                                "obs_clip": teacher_config.ppo.obs_clip})
    student_net = make_actor(config.network.actor_hidden, env.action_size, config.network.activation)
    act_teacher = dagger.teacher_mean_fn(make_actor(teacher_config.network.actor_hidden, env.action_size,
                                                    teacher_config.network.activation), teacher,
                                         teacher_config.ppo.obs_clip)

    @jax.jit
    def evaluate(params, normalizer, use_teacher):
        """Student (or teacher) acting alone from fixed initial states; scalar metrics."""
        def policy(obs, _):
            label = act_teacher(obs[teacher_config.ppo.actor_obs])
            student = student_net.apply({"params": params["actor"]}, normalization.normalize(
                normalizer, obs[config.dagger.student_obs], config.dagger.student_obs, config.dagger.obs_clip))
            return jnp.where(use_teacher, label, student), {"error": jnp.mean((student - label) ** 2, axis=-1)}

        state = init_rollout_state(env, jax.random.PRNGKey(1234))
        _, traj, metrics = rollout(env, policy, state, jax.random.PRNGKey(0), _EVAL_STEPS.value)
        return {"action_mse": jnp.mean(traj.extras["error"]), "return": metrics["episode/return"],
                "length": metrics["episode/length"], "tracking_error": metrics["env/tracking_error"]}

    def show(name, values):
        print(f"{name:<22}" + "  ".join(f"{key} {np.mean(v):.4g} ± {np.std(v):.2g}" for key, v in values.items()))

    print(f"toy task, {env.num_envs} envs; teacher: {_TEACHER_UPDATES.value} PPO updates; students: "
          f"{_UPDATES.value} DAgger updates (rollout {config.dagger.rollout_length}, beta decay "
          f"{config.dagger.beta_decay}), seeds 0..{_SEEDS.value - 1}; evaluation {_EVAL_STEPS.value} steps alone")
    fresh = dagger.make_dagger(config, env, teacher).init(jax.random.PRNGKey(0))
    teacher_eval = jax.tree.map(float, evaluate(fresh.params, fresh.normalizer, True))
    show("teacher", {key: [v] for key, v in teacher_eval.items() if key != "action_mse"})
    show("untrained student", jax.tree.map(lambda v: [float(v)], evaluate(fresh.params, fresh.normalizer, False)))
    for capacity in map(int, _DATASET_ROLLOUTS.value):
        config.dagger.dataset_rollouts = capacity
        distill = jax.jit(dagger.make_distill(config, env, teacher))
        jax.block_until_ready(distill(jax.random.PRNGKey(0)))  # compiles; the timed calls below do not
        results, seconds = [], []
        for seed in range(_SEEDS.value):
            start = time.perf_counter()
            state, metrics = jax.block_until_ready(distill(jax.random.PRNGKey(seed)))
            seconds.append(time.perf_counter() - start)
            final = evaluate(state.params, state.normalizer, False)
            final["train_action_mse_last"] = metrics["distill/action_error"][-1]
            results.append(jax.tree.map(float, final))
        values = {key: [r[key] for r in results] for key in results[0]}
        values["s_per_update"] = [s / _UPDATES.value for s in seconds]
        show(f"dataset_rollouts={capacity}", values)


if __name__ == "__main__":
    app.run(main)
