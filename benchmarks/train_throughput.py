"""Training throughput against pure rollout throughput, side by side in one process.

Both run the same environment batch and the same policy inference (the PPO behaviour policy:
actor mean, Gaussian sample, critic value); the training side adds GAE, the minibatch epochs
and the normaliser update. Reports env steps/s of each and the cost of learning on top of the
rollout (goal: at most 20%).

    python -m benchmarks.train_throughput --env=toy --num_envs=256
    python -m benchmarks.train_throughput --env=g1_tracking --num_envs=256 --repeats=2
"""

import time

import jax
from absl import app, flags

from configs import train as train_config
from genmimic_jax.rl import env_factory, ppo
from genmimic_jax.rl.algorithm import scan_updates
from genmimic_jax.rl.networks import make_actor_critic
from genmimic_jax.rl.rollout import rollout

_ENV = flags.DEFINE_enum("env", "toy", ["toy", "g1_tracking"], "environment")
_NUM_ENVS = flags.DEFINE_integer("num_envs", 256, "batch of environments")
_UPDATES = flags.DEFINE_integer("updates", 2, "PPO updates (rollouts) per timed call")
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed calls of each side (after one warm-up call)")
_DEFAULT_NETWORK = flags.DEFINE_bool("default_network", True, "the config's (512, 256, 128) MLPs; else (64, 64)")


def _time(fn, state, repeats: int) -> tuple[float, float]:
    """(compile + first call seconds, best seconds of `repeats` further calls)."""
    start = time.perf_counter()
    state = jax.block_until_ready(fn(state))
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        state = jax.block_until_ready(fn(state))
        best = min(best, time.perf_counter() - start)
    return first, best


def main(argv):
    del argv
    config = train_config.get_config(_ENV.value)
    config.env.num_envs = _NUM_ENVS.value
    if not _DEFAULT_NETWORK.value:
        config.network.actor_hidden = config.network.critic_hidden = (64, 64)
    env = env_factory.make_env(config)
    algorithm = ppo.make_ppo(config, env)
    behaviour = ppo.make_actor_critic_fns(make_actor_critic(config, env.action_size), config.ppo.actor_obs,
                                          config.ppo.obs_clip).behaviour
    length, updates = config.ppo.rollout_length, _UPDATES.value

    def rollouts_only(state):
        def one(state, _):
            rng, key = jax.random.split(state.rng)
            rollout_state, _, metrics = rollout(env, behaviour(state.params, state.normalizer),
                                                state.rollout, key, length)
            return state.replace(rollout=rollout_state, rng=rng), metrics["episode/count"]

        return jax.lax.scan(one, state, None, length=updates)[0]

    def training(state):
        return scan_updates(algorithm.update, state, updates)[0]

    state = jax.jit(algorithm.init)(jax.random.PRNGKey(0))
    steps = updates * algorithm.env_steps_per_update
    rollout_first, rollout_best = _time(jax.jit(rollouts_only), state, _REPEATS.value)
    train_first, train_best = _time(jax.jit(training), state, _REPEATS.value)
    rollout_sps, train_sps = steps / rollout_best, steps / train_best
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}  env: {_ENV.value}  "
          f"num_envs: {_NUM_ENVS.value}  rollout_length: {length}  epochs x minibatches: "
          f"{config.ppo.num_epochs} x {config.ppo.num_minibatches}  actor: {tuple(config.network.actor_hidden)}")
    print(f"rollout only : {rollout_sps:12,.0f} env steps/s   (compile + first call {rollout_first:.1f} s)")
    print(f"PPO training : {train_sps:12,.0f} env steps/s   (compile + first call {train_first:.1f} s)")
    print(f"learning cost: {rollout_sps / train_sps - 1.0:+.1%} time on top of the rollout (goal: <= +20%)")


if __name__ == "__main__":
    app.run(main)
