"""Structured benchmark layers (sim/workloads.py ``structure=``): weight positions drawn after a
real pruned matrix's row and column densities instead of uniformly."""
from __future__ import annotations

import numpy as np
import pytest

from arch.config import AcceleratorConfig
from arch.errors import DcsimError
from sim.network import clear_workload_cache, simulate_workload
from sim.workloads import (EIE_LAYERS, StructureProfile, check_structure, make_workload, resample_profile,
                           structure_from_archive, structure_from_matrix)

CFG = AcceleratorConfig()


def _nnz(name: str) -> int:
    s = EIE_LAYERS[name]
    return int(round(s.weight_density * s.n_in * s.n_out))


def _half_empty(seed: int = 0) -> StructureProfile:
    """Half the rows empty, the other half dense in proportion to a skewed column profile."""
    rng = np.random.default_rng(seed)
    col = np.minimum(rng.lognormal(0.0, 1.0, size=300) * 0.12, 1.0)
    m = np.zeros((200, 300), dtype=bool)
    m[:100] = rng.random((100, 300)) < col
    return structure_from_matrix(m[rng.permutation(200)], "half-empty")


def test_profile_from_a_matrix():
    m = np.zeros((4, 5))
    m[0, :] = 3.0
    m[1, 2] = -1.0
    p = structure_from_matrix(m, "m")
    assert p.shape == (4, 5) and p.source == "m"
    assert np.allclose(p.row_density, [1.0, 0.2, 0.0, 0.0])
    assert np.allclose(p.col_density, [0.25, 0.25, 0.5, 0.25, 0.25])
    assert p.density == pytest.approx(6 / 20)
    with pytest.raises(ValueError, match="no nonzero"):
        structure_from_matrix(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2-D"):
        structure_from_matrix(np.ones(3))


@pytest.mark.parametrize("n", [37, 300, 1000, 4096])
def test_resampling_keeps_the_mean_and_the_distribution(n):
    p = _half_empty()
    r = resample_profile(p.row_density, n, np.random.default_rng(1))
    assert len(r) == n
    assert r.mean() == pytest.approx(p.row_density.mean(), rel=1e-9)
    assert np.mean(r == 0) == pytest.approx(0.5, abs=0.03)           # half the rows still empty
    c = resample_profile(p.col_density, n)                           # no rng: sorted
    assert np.all(np.diff(c) >= 0) and c.mean() == pytest.approx(p.col_density.mean(), rel=1e-9)
    assert np.quantile(c, 0.9) == pytest.approx(np.quantile(p.col_density, 0.9), rel=0.1)


@pytest.mark.parametrize("name", ["nt-lstm", "nt-wd", "alex-8"])
def test_exact_nonzero_count_and_the_profile_followed(name):
    p = _half_empty()
    w = make_workload(name, CFG, seed=3, structure=p)
    s = EIE_LAYERS[name]
    nz = w.indices != 0
    assert w.indices.shape == (s.n_out, s.n_in) and int(nz.sum()) == _nnz(name)
    assert w.structure == "half-empty"
    per_row = nz.sum(axis=1)
    assert np.mean(per_row == 0) == pytest.approx(0.5, abs=0.03)
    # the columns' spread follows the profile's (less where a dense layer caps dense columns at 1),
    # far above a uniform layer's binomial spread
    per_col = nz.sum(axis=0)
    cv, cv_profile = per_col.std() / per_col.mean(), p.col_density.std() / p.col_density.mean()
    if s.weight_density < 0.2:
        assert cv == pytest.approx(cv_profile, rel=0.25)
    u = (make_workload(name, CFG, seed=3).indices != 0).sum(axis=0)
    assert cv > 0.5 * cv_profile > 5 * u.std() / u.mean()
    # the activations are the generator's, as without a profile
    assert np.count_nonzero(w.x) == round(s.act_density * s.n_in)


def test_probabilities_are_capped_at_one():
    # a few full rows and full columns: the positions they share are certain, nothing is drawn twice
    m = np.zeros((100, 100), dtype=bool)
    m[:5, :] = True
    m[:, :5] = True
    m[np.random.default_rng(0).random((100, 100)) < 0.02] = True
    p = structure_from_matrix(m, "cross")
    w = make_workload("alex-8", CFG, seed=0, structure=p)
    nz = w.indices != 0
    assert int(nz.sum()) == _nnz("alex-8")
    assert nz.sum(axis=1).max() == w.n_in          # some rows completely full


def test_a_profile_too_sparse_for_the_layer_is_refused():
    m = np.zeros((100, 100), dtype=bool)
    m[:2, :2] = True                               # 4% x 2% of the positions: fewer than alex-8's 25%
    p = structure_from_matrix(m, "tiny")
    with pytest.raises(ValueError, match="fewer than the layer's"):
        check_structure(p, "alex-8")
    with pytest.raises(ValueError, match="fewer than the layer's"):
        make_workload("alex-8", CFG, structure=p)
    with pytest.raises(ValueError, match="StructureProfile"):
        make_workload("alex-8", CFG, structure="runs/demo/model.dcz:fc1")


def test_same_seed_and_profile_same_workload():
    p = _half_empty()
    a = make_workload("nt-lstm", CFG, seed=5, structure=p)
    b = make_workload("nt-lstm", CFG, seed=5, structure=_half_empty())      # an equal profile, built again
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.x, b.x)
    assert np.array_equal(a.centroids, b.centroids)
    c = make_workload("nt-lstm", CFG, seed=6, structure=p)
    assert not np.array_equal(a.indices != 0, c.indices != 0)
    u = make_workload("nt-lstm", CFG, seed=5)
    assert not np.array_equal(a.indices != 0, u.indices != 0)


def test_default_is_unchanged():
    from tests.arch.test_encoding_fast import WORKLOAD_DIGESTS, _digest

    for (name, seed), digest in list(WORKLOAD_DIGESTS.items())[:2]:
        assert _digest(make_workload(name, CFG, seed, structure=None)) == digest
        assert make_workload(name, CFG, seed).structure == ""


def test_structure_worsens_the_load_balance_at_depth_1():
    clear_workload_cache()
    p = _half_empty()
    cfg = AcceleratorConfig(fifo_depth=1)
    uni = simulate_workload("nt-lstm", cfg).layers[0].summary()["load_balance_efficiency"]
    st = simulate_workload("nt-lstm", cfg, structure=p, verify=True)
    eff = st.layers[0].summary()["load_balance_efficiency"]
    assert st.verified and st.meta["structure"] == "half-empty"
    assert eff < uni - 0.05, (eff, uni)
    # cached per profile: another profile is another layer
    other = simulate_workload("nt-lstm", cfg, structure=_half_empty(seed=1))
    assert other.layers[0].summary()["load_balance_efficiency"] != eff
    clear_workload_cache()


def test_from_an_archive(tmp_path):
    from tests.dcsim.test_sim_cli import _archive

    a = _archive(tmp_path)
    p = structure_from_archive(a, "fc1")
    assert p.shape == (70, 40) and p.source == f"{a}:fc1"     # the bias column is not part of it
    assert 0.2 < p.density < 0.4
    with pytest.raises(DcsimError, match="its layers are fc1, fc2"):
        structure_from_archive(a, "fc9")
    with pytest.raises(DcsimError):
        structure_from_archive(tmp_path / "missing.dcz", "fc1")
