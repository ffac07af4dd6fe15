"""The restricted unpickler refuses anything off its allow-list and reads the formats we need."""

import io
import os
import pickle

import numpy as np
import pytest
import scipy.sparse

from genmimic_jax.human import body_model as bm
from genmimic_jax.human import safe_pickle
from genmimic_jax.human import synthetic_body_model as synthetic


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Evaluates:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)


@pytest.mark.parametrize("payload, refused", [
    (lambda marker: {"v_template": np.zeros(3), "x": _RunsCommand(marker)}, r"'(posix|os)\.system'"),
    (lambda marker: [_Evaluates()], r"'builtins\.eval'"),
])
def test_malicious_pickle_is_refused_without_side_effect(tmp_path, payload, refused):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload(marker), protocol=2))
    with pytest.raises(safe_pickle.UnsafePickleError, match=rf"evil\.pkl: refused to unpickle global {refused}"):
        safe_pickle.load(path)
    assert not marker.exists()
    with pytest.raises(bm.BodyModelError, match="refused to unpickle"):  # and through the model loader
        bm.load_body_model(path, "smpl")
    assert not marker.exists()


def test_truncated_pickle(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": np.arange(100)}, protocol=2)[:-40])
    with pytest.raises(safe_pickle.UnsafePickleError, match=r"cut\.pkl: not a readable pickle"):
        safe_pickle.load(path)


def test_numpy_sparse_and_containers_round_trip():
    value = {
        "array": np.arange(12.0).reshape(3, 4),
        "ints": np.arange(5, dtype=np.int32),
        "scalar": np.float32(2.5),
        "csc": scipy.sparse.csc_matrix(np.eye(3)),
        "csr": scipy.sparse.csr_matrix(np.eye(2)),
        "nested": [(1, "a"), {2, 3}],
    }
    for protocol in (2, 4, 5):
        out = safe_pickle.loads(pickle.dumps(value, protocol=protocol))
        np.testing.assert_array_equal(out["array"], value["array"])
        assert out["ints"].dtype == np.int32 and out["scalar"] == np.float32(2.5)
        np.testing.assert_array_equal(out["csc"].toarray(), np.eye(3))
        assert out["csr"].format == "csr"
        assert out["nested"] == [(1, "a"), {2, 3}]


def test_chumpy_model_file_reads_as_arrays(tmp_path):
    synthetic.write_smpl_pkl(tmp_path / "chumpy.pkl", chumpy=True, seed=3)
    synthetic.write_smpl_pkl(tmp_path / "plain.pkl", seed=3)
    raw = safe_pickle.load(tmp_path / "chumpy.pkl")
    assert type(raw["shapedirs"]) is np.ndarray and raw["shapedirs"].shape[-1] == 10
    assert scipy.sparse.issparse(raw["J_regressor"])
    assert b"chumpy.ch" in (tmp_path / "chumpy.pkl").read_bytes()
    with_chumpy = bm.load_body_model(tmp_path / "chumpy.pkl", "smpl")
    plain = bm.load_body_model(tmp_path / "plain.pkl", "smpl")
    for field in ("shapedirs", "joint_template", "joint_shapedirs", "weights"):
        np.testing.assert_array_equal(getattr(with_chumpy, field), getattr(plain, field))


def test_joblib_dump(tmp_path):
    joblib = pytest.importorskip("joblib")
    value = {7: {"pose": np.random.default_rng(0).normal(size=(5, 72)), "ids": np.arange(5),
                 "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "names": np.array(["a", None])}}
    joblib.dump(value, tmp_path / "out.pkl")
    out = safe_pickle.load(tmp_path / "out.pkl")
    np.testing.assert_array_equal(out[7]["pose"], value[7]["pose"])
    np.testing.assert_array_equal(out[7]["fortran"], value[7]["fortran"])
    assert list(out[7]["names"]) == ["a", None]


def test_torch_tensors_inside_a_pickle():
    torch = pytest.importorskip("torch")
    value = {"t": torch.arange(12.0).reshape(3, 4)[:, 1:], "n": np.ones(2)}
    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=True)
    raw = buffer.getvalue()
    out = safe_pickle.loads(raw[raw.index(b"\x80"):])
    out = out.item()
    assert isinstance(out["t"], np.ndarray)
    np.testing.assert_array_equal(out["t"], value["t"].numpy())
