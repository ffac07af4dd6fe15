"""The shape every learner here has: a pure `init(rng)` and a pure `update(state)`.

Keeping the two apart lets the runner (`runner.run`) call jitted chunks of updates (`scan_updates`)
from Python, with logs and checkpoints between them.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

Metrics = dict[str, jax.Array]


class Algorithm(NamedTuple):
    """A learner.

    Attributes:
      init: rng -> training state. Its class names the fields holding per-environment data in
        `PER_ENV_FIELDS` (sharded over devices); all other fields are replicated.
      update: training state -> (next training state, scalar metrics of this update).
      env_steps_per_update: environment steps one update collects (all envs together).
      add_train_seconds: (training state, seconds) -> the state with a chunk's wall-clock seconds added to its clock,
        for a learner whose schedule follows the time budget (the runner calls it after every chunk); None: none.
    """

    init: Callable[[jax.Array], Any]
    update: Callable[[Any], tuple[Any, Metrics]]
    env_steps_per_update: int
    add_train_seconds: Callable[[Any, float], Any] | None = None


def scan_updates(update: Callable[[Any], tuple[Any, Metrics]], state: Any,
                 num_updates: int) -> tuple[Any, Metrics]:
    """Applies `update` `num_updates` times in a `lax.scan`; metrics get a leading [num_updates] dim."""
    return jax.lax.scan(lambda carry, _: update(carry), state, None, length=num_updates)

