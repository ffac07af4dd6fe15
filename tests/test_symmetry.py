"""Mirror maps, the symmetry losses, mirrored augmentation, and the effect of L_SYM on training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmimic_jax.envs.mirror import MirrorMap, concat
from genmimic_jax.rl import networks, normalization, ppo, symmetry, toy_env
from rl_toy_runs import train_toy


def _matrix(mirror_map: MirrorMap) -> np.ndarray:
    """M with M @ x == mirror_map.apply(x)."""
    return np.eye(mirror_map.size)[mirror_map.perm] * mirror_map.sign[:, None]


def _symmetric_mlp_params(rng, obs_map: MirrorMap, action_map: MirrorMap, hidden: int):
    """One-hidden-layer MLP params with mu(T_s s) = T_a mu(s) and V(T_s s) = V(s) by construction.

    The hidden units come in pairs (h(s), h(T_s s)): mirroring the input swaps the halves, and
    output weights [V, T_a V] (actor) or [v, v] (critic) turn that swap into T_a (or nothing).
    """
    k1, k2, k3 = jax.random.split(rng, 3)
    obs_size, action_size = obs_map.size, action_map.size
    w = np.asarray(jax.random.normal(k1, (obs_size, hidden)))
    b = np.asarray(jax.random.normal(k2, (hidden,)))
    v = np.asarray(jax.random.normal(k3, (hidden, action_size)))
    kernel = np.concatenate([w, _matrix(obs_map).T @ w], axis=1)
    bias = np.concatenate([b, b])
    out_bias = np.ones(action_size) + _matrix(action_map) @ np.ones(action_size)  # mirror-invariant
    actor = {"Dense_0": {"kernel": kernel, "bias": bias},
             "Dense_1": {"kernel": np.concatenate([v, v @ _matrix(action_map).T]), "bias": out_bias}}
    critic = {"Dense_0": {"kernel": kernel, "bias": bias},
              "Dense_1": {"kernel": np.concatenate([v[:, :1], v[:, :1]]), "bias": np.zeros(1)}}
    return jax.tree.map(jnp.asarray, actor), jax.tree.map(jnp.asarray, critic)


def test_mirror_map_algebra():
    swap = MirrorMap(perm=np.array([1, 0, 2]), sign=np.array([-1.0, -1.0, 1.0]))
    assert swap.is_involution()
    x = np.arange(1.0, 4.0)
    np.testing.assert_array_equal(swap.apply(x), [-2.0, -1.0, 3.0])
    np.testing.assert_array_equal(swap.compose(swap).apply(x), x)
    assert not MirrorMap(perm=np.array([1, 2, 0]), sign=np.ones(3)).is_involution()
    assert MirrorMap(perm=np.arange(2), sign=-np.ones(2)).is_involution() and MirrorMap.identity(3).is_involution()
    rotate = MirrorMap(perm=np.array([1, 2, 0]), sign=np.array([1.0, -1.0, 1.0]))
    np.testing.assert_array_equal(swap.compose(rotate).apply(x), swap.apply(rotate.apply(x)))
    both = concat([swap, MirrorMap.vector3()])
    np.testing.assert_array_equal(both.apply(np.arange(6.0)), [-1.0, -0.0, 2.0, 3.0, -4.0, 5.0])
    keypoints = MirrorMap(perm=np.array([1, 0]), sign=np.ones(2)).over_items(MirrorMap.vector3())
    np.testing.assert_array_equal(keypoints.apply(np.arange(6.0)), [3.0, -4.0, 5.0, 0.0, -1.0, 2.0])
    assert keypoints.is_involution() and MirrorMap.axial3().tile(4).is_involution()
    with pytest.raises(ValueError, match="permutation"):
        MirrorMap(perm=np.array([0, 0]), sign=np.ones(2))
    with pytest.raises(ValueError, match="sign"):
        MirrorMap(perm=np.array([0, 1]), sign=np.array([1.0, 0.5]))


def test_symmetry_loss_zero_for_symmetric_policy_and_positive_otherwise():
    env = toy_env.ToyTrackingEnv(toy_env.default_config())
    obs_map, action_map = env.mirror_maps["privileged"], env.mirror_maps["action"]
    actor_params, critic_params = _symmetric_mlp_params(jax.random.PRNGKey(0), obs_map, action_map, hidden=16)
    actor = networks.MLP((32,), env.action_size)
    critic = networks.MLP((32,), 1)
    obs = jax.random.normal(jax.random.PRNGKey(1), (128, obs_map.size))

    @jax.jit
    def losses(actor_params, critic_params):
        return (symmetry.actor_loss(lambda o: actor.apply({"params": actor_params}, o), obs, obs_map, action_map),
                symmetry.critic_loss(lambda o: critic.apply({"params": critic_params}, o)[..., 0], obs, obs_map))

    symmetric_actor_loss, symmetric_critic_loss = losses(actor_params, critic_params)
    assert float(symmetric_actor_loss) < 1e-8 and float(symmetric_critic_loss) < 1e-8
    random_actor_loss, random_critic_loss = losses(actor.init(jax.random.PRNGKey(2), obs[:1])["params"],
                                                   critic.init(jax.random.PRNGKey(3), obs[:1])["params"])
    assert float(random_actor_loss) > 1e-3 and float(random_critic_loss) > 1e-3


def test_mirrored_batch_keeps_behaviour_log_probs_that_a_symmetric_policy_reproduces():
    env = toy_env.ToyTrackingEnv(toy_env.default_config())
    maps = env.mirror_maps
    actor_params, critic_params = _symmetric_mlp_params(jax.random.PRNGKey(0), maps["privileged"], maps["action"], 16)
    nets = networks.ActorCritic(actor=networks.MLP((32,), env.action_size), critic=networks.MLP((32,), 1),
                                init_log_std=0.0)
    params = {"actor": actor_params, "critic": critic_params, "log_std": jnp.full((env.action_size,), -0.5)}
    normalizer = normalization.init(env.observation_size)
    fns = ppo.make_actor_critic_fns(nets, "privileged", obs_clip=10.0)
    policy, value_fn = fns.mean(params, normalizer), fns.value(params, normalizer)

    obs = {key: jax.random.normal(jax.random.PRNGKey(i), (32, size)) for i, (key, size)
           in enumerate(env.observation_size.items())}
    mean = policy(obs["privileged"])
    action = mean + jax.random.normal(jax.random.PRNGKey(5), mean.shape)
    log_std = jnp.broadcast_to(params["log_std"], mean.shape)
    batch = {"obs": obs, "action": action, "mean": mean, "log_std": log_std,
             "log_prob": networks.gaussian_log_prob(mean, log_std, action),
             "value": value_fn(obs["privileged"]),
             "advantage": jnp.arange(32.0), "target": jnp.ones(32)}
    mirrored = ppo.mirrored_batch(batch, maps)
    np.testing.assert_allclose(mirrored["obs"]["actor"], maps["actor"].apply(obs["actor"]))
    np.testing.assert_allclose(mirrored["action"], maps["action"].apply(action))
    for key in ("log_prob", "value", "advantage", "target"):
        np.testing.assert_array_equal(mirrored[key], batch[key])
    # The stored behaviour quantities are what a symmetric policy gives at the mirrored data.
    mirrored_mean = policy(mirrored["obs"]["privileged"])
    np.testing.assert_allclose(mirrored_mean, mirrored["mean"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(networks.gaussian_log_prob(mirrored_mean, params["log_std"], mirrored["action"]),
                               batch["log_prob"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(value_fn(mirrored["obs"]["privileged"]), batch["value"],
                               rtol=1e-5, atol=1e-5)


def test_symmetry_loss_training_makes_the_policy_more_symmetric():
    _, _, _, plain = train_toy(actor_coef=0.0)
    _, _, _, with_loss = train_toy(actor_coef=1.0)
    assert with_loss["symmetry/actor_error"][-5:].mean() < 0.2 * plain["symmetry/actor_error"][-5:].mean()
    assert np.nanmean(with_loss["episode/length"][-5:]) > 90.0  # still solves the task


@pytest.mark.slow
def test_mirrored_augmentation_makes_the_policy_more_symmetric():
    _, _, _, plain = train_toy(actor_coef=0.0)
    _, _, _, augmented = train_toy(actor_coef=0.0, augment=True)
    assert augmented["symmetry/actor_error"][-5:].mean() < 0.2 * plain["symmetry/actor_error"][-5:].mean()
    assert np.nanmean(augmented["episode/length"][-5:]) > 90.0
