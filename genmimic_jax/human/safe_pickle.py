"""A restricted unpickler for untrusted `.pkl` files (SMPL model files, lifter results, joblib dumps).

Only an allow-list of globals can be loaded: numpy arrays, dtypes and scalars, scipy.sparse CSC/CSR matrices,
`collections.OrderedDict`/`defaultdict` (returned as dict), `dict`/`list`/`set`/`frozenset`, chumpy `Ch` arrays (mapped
to a stand-in without importing chumpy and returned as plain `np.ndarray`), and torch tensors pickled inside other
pickles (e.g. TRAM's `np.save`d dicts; decoded with torch's weights-only loader when torch is installed, returned as
`np.ndarray`). Arrays written by `joblib.dump` are read from the stream as raw data (object arrays, which joblib
writes as nested pickles, through the same allow-list). Any other global raises `UnsafePickleError` naming the file and the refused global, before
anything is called. Python 2 pickles (the official SMPL files) are read with `encoding='latin1'`.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import pathlib
import pickle
from typing import Any, BinaryIO

import numpy as np
import scipy.sparse

from genmimic_jax import limits
from genmimic_jax.errors import InputError


class UnsafePickleError(InputError):
    """A pickle that is malformed or references a global outside the allow-list."""


def _numpy_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"array subclass {subtype!r} is not allowed")
    _check_array_bytes(shape, np.dtype(dtype))
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _check_array_bytes(shape, dtype: np.dtype) -> None:
    size = int(np.prod([int(n) for n in np.atleast_1d(shape)], dtype=object)) * dtype.itemsize
    if size > limits.MAX_ARRAY_BYTES:
        raise pickle.UnpicklingError(f"an array of {size:,} bytes exceeds the limit of {limits.MAX_ARRAY_BYTES:,}")


def _numpy_frombuffer(buffer, dtype, shape, order):
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).copy()


class _StandIn:
    """Captures the state of an allow-listed foreign object; converted to a plain value after loading."""

    kind = ""
    state = None

    def __init__(self, *args):  # whatever constructor arguments the original class took; only the state matters
        del args

    def __setstate__(self, state):
        self.state = state


class _ChumpyArray(_StandIn):
    kind = "chumpy"


class _CscMatrix(_StandIn):
    kind = "csc"


class _CsrMatrix(_StandIn):
    kind = "csr"


class _JoblibArrayWrapper(_StandIn):
    """joblib's NumpyArrayWrapper: its array data follows it in the stream (read by `_Unpickler.load_build`)."""

    kind = "joblib"


def _copyreg_reconstructor(cls, base, state):
    if not (isinstance(cls, type) and issubclass(cls, _StandIn)) or base is not object or state is not None:
        raise pickle.UnpicklingError(f"copyreg._reconstructor of {cls!r} is not allowed")
    return cls()


def _latin1_bytes(text, encoding):
    """`_codecs.encode` as protocol-2 pickles written by Python 3 use it: bytes stored as latin1 text."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin1 text")
    return text.encode("latin1")


def _torch_storage_from_bytes(data):
    """`torch.storage._load_from_bytes`, through torch's own weights-only loader (torch is optional)."""
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise pickle.UnpicklingError("the pickle holds torch tensors; reading them needs torch installed") from None
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def _torch_rebuild_tensor(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """`torch._utils._rebuild_tensor_v2`, returning a plain numpy array."""
    import torch  # pylint: disable=import-outside-toplevel  (storages only come from _torch_storage_from_bytes)

    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError("tensor rebuilt from something other than a torch storage")
    del requires_grad, backward_hooks, metadata  # no autograd state or hooks are restored
    tensor = torch._utils._rebuild_tensor(storage, offset, size, stride)  # pylint: disable=protected-access
    return tensor.numpy().copy()


_NUMPY_GLOBALS = {
    ("multiarray", "_reconstruct"): _numpy_reconstruct,
    ("multiarray", "scalar"): np._core.multiarray.scalar,
    ("numeric", "_frombuffer"): _numpy_frombuffer,
}
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "object"): object,
    ("copyreg", "_reconstructor"): _copyreg_reconstructor,
    ("_codecs", "encode"): _latin1_bytes,
    ("chumpy.ch", "Ch"): _ChumpyArray,
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): _JoblibArrayWrapper,
    ("torch._utils", "_rebuild_tensor_v2"): _torch_rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _torch_storage_from_bytes,
}
for _module in ("numpy.core", "numpy._core"):
    for (_sub, _name), _value in _NUMPY_GLOBALS.items():
        _ALLOWED[(f"{_module}.{_sub}", _name)] = _value
for _module in ("scipy.sparse.csc", "scipy.sparse._csc"):
    _ALLOWED[(_module, "csc_matrix")] = _CscMatrix
for _module in ("scipy.sparse.csr", "scipy.sparse._csr"):
    _ALLOWED[(_module, "csr_matrix")] = _CsrMatrix


class _Unpickler(pickle._Unpickler):  # The pure-Python unpickler: its BUILD step can be extended for joblib.
    def __init__(self, file: BinaryIO, source: str):
        super().__init__(file, encoding="latin1")
        self._raw_file = file
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (__builtin__.set, copy_reg._reconstructor) as the standard unpickler's fix_imports maps them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._source}: refused to unpickle global '{module}.{name}' (not on the allow-list)"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self._source}: persistent references are not allowed")

    def load_build(self):
        super().load_build()
        wrapper = self.stack[-1]
        if isinstance(wrapper, _JoblibArrayWrapper):
            self.stack[-1] = _read_joblib_array(self._raw_file, wrapper.state, self._source)

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build


def _read_joblib_array(file: BinaryIO, state: dict, source: str) -> np.ndarray:
    dtype = np.dtype(state["dtype"])
    if dtype.hasobject:  # Written as a nested pickle, read through the same allow-list.
        return _Unpickler(file, source).load()
    if state.get("numpy_array_alignment_bytes") is not None:
        padding = file.read(1)
        file.read(int.from_bytes(padding, "little"))
    shape = tuple(int(n) for n in state["shape"])
    _check_array_bytes(shape, dtype)
    count = int(np.prod(shape))
    data = file.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise UnsafePickleError(f"{source}: truncated joblib array data")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=state.get("order", "C")).copy()


def _convert(value: Any, source: str) -> Any:
    """Replaces stand-ins by plain values, recursively through containers (see `_Converter`), then refuses values
    that would expand past `limits.MAX_PICKLE_OBJECTS` containers (see `_expanded_containers`)."""
    converted = _Converter(source).convert(value, 0)
    expanded = _expanded_containers(converted, {})
    if expanded > limits.MAX_PICKLE_OBJECTS:
        raise UnsafePickleError(f"{source}: pickle expands to {expanded:.3g} containers through shared references "
                                f"(limit {limits.MAX_PICKLE_OBJECTS:,})")
    return converted


def _expanded_containers(value: Any, sizes: dict[int, int]) -> int:
    """Containers in `value` counting every shared reference as a copy (what code walking it would visit), memoised
    per object, so a "billion laughs" pickle of nested shared lists is measured in its own size."""
    if isinstance(value, np.ndarray):
        if not value.dtype.hasobject:
            return 0
        children = value.flat
    elif isinstance(value, dict):
        children = value.values()
    elif isinstance(value, (list, tuple, set, frozenset)):
        children = value
    else:
        return 0
    if id(value) not in sizes:
        sizes[id(value)] = 1 + sum(_expanded_containers(child, sizes) for child in children)
    return sizes[id(value)]


class _Converter:
    """Converts each distinct container once (a shared reference stays shared, so a "billion laughs" pickle of
    nested shared lists costs its size, not its expansion), bounded in depth by `limits.MAX_NESTING_DEPTH`."""

    def __init__(self, source: str):
        self.source = source
        self.done: dict[int, tuple[Any, Any]] = {}  # id -> (original, converted); the original keeps the id unique

    def convert(self, value: Any, depth: int) -> Any:
        if not isinstance(value, (_StandIn, dict, list, tuple, set, frozenset, np.ndarray)):
            return value
        if id(value) in self.done:
            return self.done[id(value)][1]
        if depth > limits.MAX_NESTING_DEPTH:
            raise UnsafePickleError(f"{self.source}: pickle nested deeper than {limits.MAX_NESTING_DEPTH} levels")
        converted = self._convert_new(value, depth + 1)
        self.done[id(value)] = (value, converted)
        return converted

    def _convert_new(self, value: Any, depth: int) -> Any:
        source = self.source
        if isinstance(value, _ChumpyArray):
            state = value.state if isinstance(value.state, dict) else {}
            if "x" not in state:
                raise UnsafePickleError(f"{source}: chumpy object without array data 'x' is not supported")
            return np.asarray(self.convert(state["x"], depth))
        if isinstance(value, (_CscMatrix, _CsrMatrix)):
            state = value.state if isinstance(value.state, dict) else {}
            try:
                parts = (np.asarray(state["data"]), np.asarray(state["indices"]), np.asarray(state["indptr"]))
                shape = tuple(int(n) for n in state.get("_shape", state.get("shape")))
            except (KeyError, TypeError) as err:
                raise UnsafePickleError(f"{source}: malformed scipy sparse matrix state ({err})") from err
            cls = scipy.sparse.csc_matrix if value.kind == "csc" else scipy.sparse.csr_matrix
            return cls(parts, shape=shape)
        if isinstance(value, _StandIn):
            raise UnsafePickleError(f"{source}: unexpected {value.kind} object")
        if isinstance(value, collections.defaultdict):
            return {k: self.convert(v, depth) for k, v in value.items()}
        if isinstance(value, dict):
            return type(value)((k, self.convert(v, depth)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return type(value)(self.convert(v, depth) for v in value)
        if isinstance(value, np.ndarray) and value.dtype.hasobject:
            out = np.empty(value.shape, dtype=object)
            for index, item in np.ndenumerate(value):
                out[index] = self.convert(item, depth)
            return out
        return value


def load(path: str | pathlib.Path) -> Any:
    """Unpickles a file through the allow-list. Raises UnsafePickleError naming the file on any problem."""
    path = pathlib.Path(path)
    try:
        with open(path, "rb") as file:
            return loads_from(file, str(path))
    except OSError as err:
        raise UnsafePickleError(f"{path}: cannot read ({err})") from err


def loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickles bytes through the allow-list; `source` names them in errors."""
    return loads_from(io.BytesIO(data), source)


def loads_from(file: BinaryIO, source: str) -> Any:
    """Unpickles one object from an open binary stream through the allow-list."""
    try:
        value = _Unpickler(file, source).load()
    except UnsafePickleError:
        raise
    except RecursionError as err:
        raise UnsafePickleError(f"{source}: pickle nested too deeply") from err
    except Exception as err:  # Malformed pickles raise anything from EOFError to TypeError; report them all.
        raise UnsafePickleError(f"{source}: not a readable pickle ({type(err).__name__}: {err})") from err
    return _convert(value, source)
