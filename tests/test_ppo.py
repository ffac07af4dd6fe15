"""PPO: GAE, configuration checks, and learning on the toy task."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmimic_jax.rl import env_factory, metrics_log, networks, ppo, rollout, runner, toy_env
from rl_toy_runs import small_config, train_toy


def _reference_gae(reward, value, done, truncation, last_value, discount, lam):
    reward = reward + discount * truncation * value
    advantage = np.zeros_like(reward)
    next_advantage, next_value = np.zeros_like(last_value), last_value
    for t in reversed(range(len(reward))):
        delta = reward[t] + discount * (1 - done[t]) * next_value - value[t]
        next_advantage = delta + discount * lam * (1 - done[t]) * next_advantage
        advantage[t] = next_advantage
        next_value = value[t]
    return advantage, advantage + value


def test_gae_matches_loop_with_terminations_and_truncations():
    rng = np.random.default_rng(0)
    reward, value = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    done = np.zeros((7, 3))
    truncation = np.zeros((7, 3))
    done[2, 0] = 1.0  # a failure
    done[4, 1] = truncation[4, 1] = 1.0  # a time-limit end
    last_value = rng.normal(size=3)
    advantage, target = ppo.compute_gae(*map(jnp.asarray, (reward, value, done, truncation, last_value)), 0.9, 0.8)
    expected_advantage, expected_target = _reference_gae(reward, value, done, truncation, last_value, 0.9, 0.8)
    np.testing.assert_allclose(advantage, expected_advantage, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(target, expected_target, rtol=1e-5, atol=1e-6)
    # The truncated step bootstraps (target differs from its bare reward), the failed one does not.
    assert target[4, 1] == pytest.approx(reward[4, 1] + 0.9 * value[4, 1], rel=1e-5)
    assert target[2, 0] == pytest.approx(reward[2, 0], rel=1e-5)


def test_gaussian_helpers_agree_with_closed_forms():
    mean, log_std = jnp.array([[0.5, -1.0]]), jnp.array([0.1, -0.3])
    action = jnp.array([[0.0, 0.2]])
    std = np.exp(np.asarray(log_std))
    expected = np.sum(-0.5 * ((np.asarray(action) - np.asarray(mean)) / std) ** 2 - np.log(std * np.sqrt(2 * np.pi)))
    assert float(networks.gaussian_log_prob(mean, log_std, action)[0]) == pytest.approx(expected, rel=1e-5)
    assert float(networks.gaussian_kl(mean, log_std, mean, log_std)[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(networks.gaussian_kl(mean, log_std, mean + 1.0, log_std)[0]) > 0.0


def test_bad_config_is_rejected():
    config = small_config()
    env = env_factory.make_env(config)
    config.ppo.actor_obs = "camera"
    with pytest.raises(ValueError, match="camera"):
        ppo.make_ppo(config, env)
    config = small_config()
    config.ppo.num_minibatches = 7
    with pytest.raises(ValueError, match="num_minibatches"):
        ppo.make_ppo(config, env)
    config = small_config()
    config.ppo.lr_schedule = "cosine"
    with pytest.raises(ValueError, match="lr_schedule"):
        ppo.make_ppo(config, env)


def test_toy_env_interface():
    env = toy_env.ToyTrackingEnv(toy_env.default_config())
    state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    for key, size in env.observation_size.items():
        assert state.obs[key].shape == (env.num_envs, size)
        assert env.mirror_maps[key].size == size and env.mirror_maps[key].is_involution()
    assert env.mirror_maps["action"].size == env.action_size
    state = jax.jit(env.step)(state, jnp.ones((env.num_envs, env.action_size)))
    assert state.reward.shape == state.done.shape == state.info["truncation"].shape == (env.num_envs,)
    assert {"reward/position", "reward/arms", "reward/action_rate", "keypoint_error"} <= set(state.metrics)


@pytest.mark.parametrize("env_name", ["toy", "g1_tracking"])
def test_summary_plot_and_ablation_tags_name_metrics_the_env_reports(env_name):
    """The stdout line, the default curves and the ablation table read rollout metrics by name; both envs report
    every one of them (G1 runs once lacked the tracking error: the readers asked for 'env/tracking_error')."""
    from configs import train as train_config
    from experiments import ablate, plot_logs

    config = train_config.get_config(env_name)
    config.env.num_envs = 2
    env = env_factory.make_env(config)

    def rollout_metrics(rng):
        def still(obs, key):
            return jnp.zeros((env.num_envs, env.action_size)), {}

        return rollout.rollout(env, still, rollout.init_rollout_state(env, rng), rng, 1)[2]

    reported = set(jax.eval_shape(rollout_metrics, jax.random.PRNGKey(0)))
    for tags in (metrics_log.SUMMARY_KEYS, plot_logs.DEFAULT_TAGS, ablate.SUMMARY_TAGS):
        rollout_tags = {tag for tag in tags if tag.split("/")[0] in ("env", "episode", "reward", "termination")}
        assert "env/keypoint_error" in rollout_tags and rollout_tags <= reported


def test_ppo_learns_the_toy_task():
    _, _, state, metrics = train_toy()
    length, ret = metrics["episode/length"], metrics["episode/return"]
    assert np.all(np.isfinite(metrics["loss/total"]))
    # A random policy drifts off the goal within ~20 steps; a trained one tracks the full 100.
    assert np.nanmean(length[:3]) < 40.0
    assert np.nanmean(length[-5:]) > 90.0
    assert np.nanmean(ret[-5:]) > 3.0 * np.nanmean(ret[:3])
    assert metrics["env/keypoint_error"][-5:].mean() < 0.5 * metrics["env/keypoint_error"][:3].mean()
    assert int(state.step) == 20


@pytest.mark.slow
def test_ppo_learns_on_the_g1_builtin_clip(tmp_path):
    """The real MJX G1 env on its built-in standing/arm-waving clip, 60 updates of 64 envs x 24 steps.

    With `quick_g1_run`'s tight keypoint termination, standing still fails within ~30 control steps; a policy
    that follows the arms, waist and knee dips lasts longer (under 3 minutes on a quiet 2-core CPU).
    """
    from configs import train as train_config

    config = train_config.quick_g1_run(train_config.get_config("g1_tracking"), num_updates=60)
    env = env_factory.make_env(config)
    _, metrics = runner.run(ppo.make_ppo(config, env), config, tmp_path, config.ppo.num_updates, env.num_envs)
    assert np.all(np.isfinite(metrics["loss/total"]))
    # Update 1 is left out: its episodes are cut short by the synchronised start of all envs.
    length, ret = metrics["episode/length"][1:], metrics["episode/return"][1:]
    failures = metrics["termination/keypoint_error"][1:]
    assert np.nanmean(length[-10:]) > 1.5 * np.nanmean(length[:5])
    assert np.nanmean(ret[-10:]) > 2.0 * np.nanmean(ret[:5]) > 0.0
    assert failures[-10:].mean() < 0.7 * failures[:5].mean()
