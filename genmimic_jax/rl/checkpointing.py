"""Orbax checkpoints of whole training states, so a stopped run resumes exactly.

A checkpoint step holds two items: `state` (parameters, optimiser state, normaliser, rng,
update count and the per-env rollout state) and `config` (JSON). Orbax writes each step to a
temporary directory and renames it when complete, and keeps the last N steps.
"""

import dataclasses
import logging
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from genmimic_jax.errors import InputError


class CheckpointError(InputError):
    """A checkpoint directory is missing or unreadable."""


def _read_only_notice(record: logging.LogRecord) -> bool:
    """A `logging` filter: False for orbax's notice that a checkpoint directory is opened read-only."""
    return not record.getMessage().startswith("Given directory is read only")


class Checkpointer:
    """Periodic, atomic, keep-last-N checkpoints in one directory."""

    def __init__(self, directory: str | pathlib.Path, keep: int = 3, read_only: bool = False):
        """`read_only`: only restore (another run's checkpoints), never create, write or delete anything."""
        self.directory = pathlib.Path(directory).absolute()
        if read_only and not self.directory.is_dir():
            raise CheckpointError(f"{self.directory}: no such checkpoint directory")
        # Read-only, orbax keeps every step and saves none (set here, as orbax warns when it has to set them).
        options = ocp.CheckpointManagerOptions(max_to_keep=None if read_only else keep, create=not read_only,
                                               read_only=read_only, save_interval_steps=0 if read_only else 1)
        handlers = {"state": ocp.StandardCheckpointHandler(), "config": ocp.JsonCheckpointHandler()}
        absl_logger = logging.getLogger("absl")
        absl_logger.addFilter(_read_only_notice)  # orbax warns of every read-only opening (a policy load reads many)
        try:
            self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)
        finally:
            absl_logger.removeFilter(_read_only_notice)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """The steps of the checkpoints kept, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, step: int, state: Any, config: ml_collections.ConfigDict) -> None:
        """Starts writing `state` at `step` (asynchronously; `wait` or `close` to finish)."""
        self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(_without_empty(state)),
                                                         config=ocp.args.JsonSave(config.to_dict())))

    def restore(self, abstract_state: Any, step: int | None = None) -> Any:
        """Restores the state at `step` (default: latest) into the structure, shapes and shardings of
        `abstract_state` (a pytree of `jax.ShapeDtypeStruct`)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"{self.directory}: no checkpoint to restore")
        try:
            stored = self._manager.item_metadata(step)["state"]
            added = _added_step_metrics(abstract_state, None if stored is None else stored.tree)
            restored = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(_without_empty(_without_keys(abstract_state, added)))))
        except (ValueError, OSError, KeyError, TypeError) as error:  # truncated or damaged (tensorstore errors)
            message = " ".join(str(error).split())
            other_shapes = "not compatible with the stored shape" in message
            remedy = ("its state has other shapes than this run's (another motion set, env count or network, or an "
                      "older genmimic_jax wrote it): start a new run (another --config.name) of its shapes"
                      if other_shapes else "remove it to resume from an earlier one")
            raise CheckpointError(f"{self.directory / str(step)}: cannot restore the checkpoint ({message[:300]}); "
                                  f"{remedy}") from None
        return _with_empty(abstract_state, restored["state"], added)

    def restore_raw(self, step: int | None = None,
                    fields: tuple[str, ...] | None = None) -> tuple[dict, dict]:
        """The state at `step` (default: latest) as nested dicts of numpy arrays, and the config dict.

        Reads checkpoints of any device layout (e.g. a multi-host or GPU run, read on one CPU). `fields` names
        the top-level state fields to read where the state has them (default: all), so that reading a policy's
        weights does not load the per-env rollout or DAgger dataset.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"{self.directory}: no checkpoint to restore")
        metadata = self._manager.item_metadata(step)["state"].tree
        if fields is not None:
            metadata = {name: tree for name, tree in metadata.items() if name in fields}
        # numpy targets: without them orbax restores onto the saved devices and fails where those are missing.
        as_numpy = jax.tree.map(lambda leaf: np.empty(leaf.shape, leaf.dtype), metadata)
        restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), metadata)
        state = ocp.PyTreeCheckpointer().restore(
            self.directory / str(step) / "state",
            args=ocp.args.PyTreeRestore(as_numpy, restore_args=restore_args, partial_restore=True))
        config = self._manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]
        return state, config

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()


def _is_empty(x: Any) -> bool:
    return int(np.prod(np.shape(x))) == 0


def _without_empty(tree: Any) -> Any:
    """The tree with zero-size arrays (e.g. MJX's `act` of a model without activations) as None: orbax cannot
    write them."""
    return jax.tree.map(lambda x: None if _is_empty(x) else x, tree)


def _key_names(path: tuple) -> tuple[str, ...]:
    return tuple(str(getattr(key, "key", getattr(key, "name", getattr(key, "idx", key)))) for key in path)


def _added_step_metrics(abstract_state: Any, stored_tree: Any) -> frozenset[tuple[str, ...]]:
    """Key paths of the environment's per-step metrics (`metrics['reward/...']`, `metrics['termination/...']`) in
    `abstract_state` that the stored state (orbax's metadata tree) lacks: reward or termination terms added since
    the checkpoint was written. Every env step overwrites them, so they can restore as zeros, their reset value."""
    def lacks(names: tuple[str, ...]) -> bool:
        node = stored_tree
        for name in names[:-1]:
            if not isinstance(node, dict) or name not in node:
                return False
            node = node[name]
        return isinstance(node, dict) and names[-1] not in node

    paths = (_key_names(path) for path, _ in jax.tree_util.tree_flatten_with_path(abstract_state)[0])
    return frozenset(names for names in paths if len(names) >= 2 and names[-2] == "metrics"
                     and names[-1].startswith(("reward/", "termination/")) and lacks(names))


def _without_keys(node: Any, paths: frozenset[tuple[str, ...]], prefix: tuple[str, ...] = ()) -> Any:
    """`node` without the dict entries at the key `paths` (through dicts, dataclasses and named tuples)."""
    if not any(path[:len(prefix)] == prefix for path in paths):
        return node
    if isinstance(node, dict):
        return {key: _without_keys(value, paths, prefix + (str(key),)) for key, value in node.items()
                if prefix + (str(key),) not in paths}
    if dataclasses.is_dataclass(node):
        return dataclasses.replace(node, **{field.name: _without_keys(getattr(node, field.name), paths,
                                                                      prefix + (field.name,))
                                            for field in dataclasses.fields(node)})
    if hasattr(node, "_fields"):
        return node._replace(**{name: _without_keys(getattr(node, name), paths, prefix + (name,))
                                for name in node._fields})
    return node


def _with_empty(abstract_state: Any, restored: Any, added: frozenset[tuple[str, ...]] = frozenset()) -> Any:
    """`restored` in `abstract_state`'s structure, with the zero-size arrays left out by `_without_empty` and the
    step metrics at the key paths `added` (left out by `_without_keys`) as zeros of their shapes."""
    restored_leaves = iter(jax.tree.structure(_without_keys(abstract_state, added)).flatten_up_to(restored))

    def fill(path, abstract):
        value = None if _key_names(path) in added else next(restored_leaves)
        if value is not None and not _is_empty(abstract):
            return value
        zeros = jnp.zeros(abstract.shape, abstract.dtype)
        sharding = getattr(abstract, "sharding", None)
        return zeros if sharding is None else jax.device_put(zeros, sharding)

    return jax.tree_util.tree_map_with_path(fill, abstract_state)


def abstract_with_shardings(abstract_state: Any, shardings: Any) -> Any:
    """Attaches target shardings to a `jax.eval_shape` result, for `Checkpointer.restore`."""
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), abstract_state, shardings)
