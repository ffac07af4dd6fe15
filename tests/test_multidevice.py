"""Data parallelism: one PPO update on two (virtual CPU) devices equals the same update on one."""

import os
import pathlib
import subprocess
import sys
import textwrap

REPO = pathlib.Path(__file__).resolve().parents[1]

_SCRIPT = textwrap.dedent("""
    import jax
    import numpy as np

    from genmimic_jax.rl import distributed, env_factory, ppo, runner
    from rl_toy_runs import small_config

    assert jax.device_count() == 2, jax.devices()
    config = small_config(actor_coef=1.0, augment=True)
    config.network.actor_hidden = (32,)
    config.network.critic_hidden = (32,)
    config.env.num_envs = 16
    config.ppo.rollout_length = 8
    algorithm = ppo.make_ppo(config, env_factory.make_env(config))

    results = {}
    for count in (1, 2):
        mesh = distributed.make_mesh(jax.devices()[:count])
        sharded = runner.shard(algorithm, mesh, 1)
        state = sharded.init(jax.random.PRNGKey(0))
        state, metrics = sharded.chunk(state)
        obs = state.rollout.env_state.obs["privileged"]
        assert len(obs.sharding.device_set) == count
        assert obs.addressable_shards[0].data.shape[0] == 16 // count
        assert state.params["log_std"].sharding.is_fully_replicated
        results[count] = jax.tree.map(np.asarray, (state.params, state.normalizer.mean, state.opt_state, metrics))

    leaves_1, leaves_2 = jax.tree.leaves(results[1]), jax.tree.leaves(results[2])
    assert len(leaves_1) == len(leaves_2)
    for a, b in zip(leaves_1, leaves_2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    changed = np.abs(results[2][0]["log_std"]).max()
    assert changed > 0, "the update did not move the parameters"
    print("OK")
""")


def test_one_update_on_two_devices_equals_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.strip().endswith("OK")
