"""compress/methods/regularized.py: l1, ssl, sws (pruner and quantizer), variational_dropout."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from arch.config import AcceleratorConfig  # noqa: E402
from compress.config import CompressionConfig  # noqa: E402
from compress.methods import PRUNERS, QUANTIZERS, prune_mask, share_values  # noqa: E402
from compress.methods import regularized as R  # noqa: E402
from compress.pipeline import EvalSet, compress_network  # noqa: E402
from network.data import TrainData  # noqa: E402
from network.graph import LayerKind, LayerSpec, Network, init_params  # noqa: E402
from network.torch_train import to_torch  # noqa: E402
from network.train import train  # noqa: E402


def _net(seed=0, n_in=12, hidden=16, n_out=4):
    specs = [LayerSpec("fc1", LayerKind.FC, (hidden, n_in), relu=True),
             LayerSpec("fc2", LayerKind.FC, (n_out, hidden), relu=False)]
    return init_params(Network("mlp", (n_in,), specs), seed)


def _tiny():
    """A hand-made 2-3-2 network."""
    net = _net(0, n_in=2, hidden=3, n_out=2)
    net.params["fc1"] = np.array([[1.0, -2.0], [0.0, 0.5], [3.0, 0.0]], dtype=np.float32)
    net.params["fc1_bias"] = np.array([0.1, -0.1, 0.2], dtype=np.float32)
    net.params["fc2"] = np.array([[0.0, 4.0, -1.0], [2.0, 0.0, 0.0]], dtype=np.float32)
    net.params["fc2_bias"] = np.array([0.3, 0.0], dtype=np.float32)
    return net


def _params(net):
    return dict(to_torch(net).named_net_params())


def _data(n=256, seed=0, n_in=12, informative=4):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    y = x[:, :informative].argmax(1).astype(np.int64)
    return x, y


_OPT = dict(lr=0.05, momentum=0.9, weight_decay=0.0, batch_size=32, seed=0, progress=False)


# ------------------------------------------------------------------ penalty values
def test_l1_penalty_is_the_sum_of_absolute_weights_without_biases():
    net = _tiny()
    h = PRUNERS.get("l1").train_hooks(net, CompressionConfig(penalty=0.5))
    assert h.penalty(_params(net)).item() == pytest.approx(0.5 * (6.5 + 7.0), rel=1e-6)


def test_group_lasso_penalty_spares_the_output_rows():
    net = _tiny()
    h = PRUNERS.get("ssl").train_hooks(net, CompressionConfig(penalty=0.1))
    assert h.protected == {"fc2"}
    W1, W2 = net.params["fc1"].astype(np.float64), net.params["fc2"].astype(np.float64)
    expect = (np.linalg.norm(W1, axis=1).sum() + np.linalg.norm(W1, axis=0).sum()
              + np.linalg.norm(W2, axis=0).sum())                       # fc2: columns only
    assert h.penalty(_params(net)).item() == pytest.approx(0.1 * expect, rel=1e-5)


def test_sws_penalty_is_the_negative_log_mixture_prior():
    net = _tiny()
    cfg = CompressionConfig(penalty=0.01, fc_bits=2)
    prior = PRUNERS.get("sws").train_hooks(net, cfg)
    assert prior.J == 4 and R.mixture_for(net) is prior
    w = np.concatenate([np.ravel(net.params[k]) for k in ("fc1", "fc1_bias", "fc2", "fc2_bias")]).astype(np.float64)
    lo, hi = w.min(), w.max()
    mu = np.r_[0.0, np.linspace(lo, hi, 3)]
    s2 = np.full(4, ((hi - lo) / 2 / 4) ** 2)        # a quarter of the spacing of the means
    pi = np.r_[0.99, np.full(3, 0.01 / 3)]
    dens = (pi / np.sqrt(2 * np.pi * s2) * np.exp(-(w[:, None] - mu) ** 2 / (2 * s2))).sum(1)
    assert prior.penalty(_params(net)).item() == pytest.approx(0.01 * -np.log(dens).sum(), rel=1e-5)


def test_vd_penalty_is_the_kl_approximation_of_eq_14():
    net = _tiny()
    h = PRUNERS.get("variational_dropout").train_hooks(net, CompressionConfig(penalty=0.2))
    h.extra_params(torch)
    kl = 0.0
    for k in ("fc1", "fc2"):
        w = net.params[k].astype(np.float64)
        la = np.clip(-10.0 - np.log(w * w + 1e-16), -8.0, 8.0)                # clipped, as the paper's code
        nkl = 0.63576 / (1 + np.exp(-(1.87320 + 1.48695 * la))) - 0.5 * np.log1p(np.exp(-la)) - 0.63576
        kl += -nkl.sum()
    assert h.penalty(_params(net)).item() == pytest.approx(0.2 * kl, rel=1e-4)


# ------------------------------------------------------------------ training moves the weights
def test_l1_training_makes_more_small_weights():
    x, y = _data()
    out = {}
    for name, hooks in (("plain", None), ("l1", R.L1Hooks(["fc1", "fc2"], 0.01))):
        net = _net(1)
        train(net, x, y, epochs=15, hooks=hooks, **_OPT)
        out[name] = np.mean(np.abs(net.params["fc1"]) < 0.01)
    assert out["l1"] > out["plain"] + 0.2


def test_group_lasso_training_lowers_the_row_norms():
    x, y = _data()
    norms = {}
    for pen in (0.0, 0.02):
        net = _net(1)
        h = PRUNERS.get("ssl").train_hooks(net, CompressionConfig(penalty=pen))
        train(net, x, y, epochs=15, hooks=h, **_OPT)
        norms[pen] = np.sort(np.linalg.norm(net.params["fc1"], axis=1))
    assert norms[0.02][:8].sum() < 0.3 * norms[0.0][:8].sum()        # the weakest half of the neurons fades


def test_sws_training_moves_the_mixture_and_clusters_the_weights():
    x, y = _data()
    net = _net(1)
    cfg = CompressionConfig(penalty=5e-3, fc_bits=2)
    prior = PRUNERS.get("sws").train_hooks(net, cfg)
    mu0, ls0, lp0 = prior.mixture()

    def spread(n):                  # mean squared distance of each weight to its nearest component mean
        w = np.concatenate([np.ravel(n.params[k]) for k in prior.keys]).astype(np.float64)
        mu = prior.mixture()[0]
        return np.mean(np.min((w[:, None] - mu) ** 2, axis=1))

    plain = _net(1)
    train(plain, x, y, epochs=20, **_OPT)
    train(net, x, y, epochs=20, hooks=prior, **_OPT)
    mu1, ls1, lp1 = prior.mixture()
    assert mu1[0] == 0.0 and not np.allclose(mu1, mu0) and not np.allclose(ls1, ls0) and not np.allclose(lp1, lp0)
    assert np.exp(lp1[0]) >= 0.5 - 1e-6
    assert spread(net) < 0.3 * spread(plain)


def test_vd_training_raises_the_noise_of_useless_inputs():
    x, y = _data(n=512, n_in=12, informative=4)                         # inputs 4..11 are pure noise
    net = _net(1)
    h = PRUNERS.get("variational_dropout").train_hooks(net, CompressionConfig(penalty=1.0 / 512))
    train(net, x, y, epochs=20, hooks=h, **_OPT)
    ls = h.extra_params(torch)["fc1"].detach().numpy()
    la = h.log_alpha("fc1", net.params["fc1"])
    assert ls[:, 4:].mean() > -9.0                                      # rose from -10 for the noise inputs
    assert np.median(la[:, 4:]) > np.median(la[:, :4]) + 1.0              # and they are the least certain


def test_vd_training_is_reproducible():
    x, y = _data()
    outs = []
    for _ in range(2):
        net = _net(1)
        train(net, x, y, epochs=2, hooks=PRUNERS.get("variational_dropout").train_hooks(net, CompressionConfig()),
              **_OPT)
        outs.append(net.params["fc1"].copy())
    assert np.array_equal(outs[0], outs[1])


# ------------------------------------------------------------------ masks
def test_l1_mask_keeps_the_density_by_magnitude():
    w = np.random.default_rng(0).standard_normal((20, 30))
    cfg = CompressionConfig(prune_method="l1", density=0.25)
    m = prune_mask(w, "fc1", cfg, fraction=0.5)
    assert m.sum() == round(0.5 * w.size) and np.abs(w[m]).min() >= np.abs(w[~m]).max()


def test_structured_mask_keeps_whole_rows_and_columns():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20, 30)) * rng.random(30)[None, :] * rng.random(20)[:, None]
    w[3] = 0.0
    w[:, 7] = 0.0
    m = R.structured_mask(w, 0.3)
    rows, cols = m.any(1), m.any(0)
    assert np.array_equal(m, rows[:, None] & cols[None, :])             # a rectangle of rows x columns
    assert 0.25 <= m.mean() <= 0.3 and not rows[3] and not cols[7]
    only_cols = R.structured_mask(w, 0.3, rows=False)
    assert only_cols.any(1).all() and 0.25 <= only_cols.mean() <= 0.3
    c = np.flatnonzero(only_cols.any(0))
    assert np.linalg.norm(w[:, c], axis=0).min() >= np.linalg.norm(w[:, np.setdiff1d(np.arange(30), c)], axis=0).max()
    conv = rng.standard_normal((6, 4, 3, 3))
    mc = R.structured_mask(conv, 0.5)
    assert np.array_equal(mc, np.broadcast_to(mc[:, :, :1, :1], conv.shape)) and mc.mean() <= 0.5


def test_ssl_never_removes_the_classes():
    net = _net(0)
    cfg = CompressionConfig(prune_method="ssl", density=0.3)
    h = PRUNERS.get("ssl").train_hooks(net, cfg)
    m2 = prune_mask(net.params["fc2"], "fc2", cfg, hooks=h)
    m1 = prune_mask(net.params["fc1"], "fc1", cfg, hooks=h)
    assert m2.any(1).all() and m2.mean() <= 0.3 and not m1.any(1).all()


def test_sws_mask_prunes_the_zero_component():
    net = _tiny()
    prior = R.MixturePrior(net, 1.0, 4, pi0=0.5)
    mu = prior.mixture()[0]
    w = np.array([[0.0, 1e-3, -1e-3, mu[1], mu[3]]])
    m = PRUNERS.get("sws").mask(w, "fc1", CompressionConfig(), hooks=prior)
    assert m.tolist() == [[False, False, False, True, True]]


def test_vd_mask_rules():
    net = _tiny()
    h = R.VariationalDropoutHooks(net, 1.0)
    p = h.extra_params(torch)["fc1"]
    with torch.no_grad():
        p.copy_(torch.tensor([[0.0, 0.0], [-10.0, -10.0], [0.0, 0.0]]))   # log s^2
    w = np.array([[1.0, 0.1], [0.5, 0.02], [3.0, 0.2]])                   # log alpha = -log w^2
    pr = PRUNERS.get("variational_dropout")
    m = pr.mask(w, "fc1", CompressionConfig(density=1.0), hooks=h)       # the paper's log alpha > 3
    assert m.tolist() == [[True, False], [True, True], [True, False]]
    m = pr.mask(w, "fc1", CompressionConfig(density=0.5), hooks=h)       # the 3 lowest log alpha
    la = h.log_alpha("fc1", w)
    assert m.sum() == 3 and la[m].max() <= la[~m].min()


# ------------------------------------------------------------------ the sws quantizer
def test_sws_quantizer_uses_the_mixture_or_falls_back_to_kmeans():
    R._MIXTURES.clear()
    R._LATEST.clear()
    vals = np.random.default_rng(0).standard_normal(200) * 0.5
    cfg = CompressionConfig(quantizer="sws", fc_bits=3)
    codes, cb = share_values(vals, 3, cfg)
    kc, kcb = share_values(vals, 3, CompressionConfig(fc_bits=3))
    assert np.array_equal(codes, kc) and np.array_equal(cb, kcb)          # no mixture: k-means
    net = _tiny()
    prior = PRUNERS.get("sws").train_hooks(net, cfg)
    codes, cb = share_values(vals, 3, cfg)
    mu = prior.mixture()[0]
    assert np.allclose(cb[1:], mu[1:].astype(np.float32))
    lj = prior.log_joint(vals)
    assert np.array_equal(codes, 1 + np.argmax(lj[:, 1:], axis=1))
    codes2, cb2 = share_values(vals, 2, cfg)                              # fewer entries than J: k-means
    assert np.array_equal(cb2, share_values(vals, 2, CompressionConfig())[1])
    del net, prior
    import gc
    gc.collect()
    assert R.mixture_for() is None


# ------------------------------------------------------------------ end to end
@pytest.mark.parametrize("method", ["l1", "ssl", "sws", "variational_dropout"])
def test_compress_network_end_to_end(method):
    x, y = _data(n=256)
    data = TrainData(x_train=x, y_train=y, x_test=x[:64], y_test=y[:64], fingerprint="t")
    quant = "sws" if method == "sws" else "kmeans"
    pen = {"l1": 1e-3, "ssl": 1e-3, "sws": 1e-3, "variational_dropout": 1.0 / 256}[method]
    cfg = CompressionConfig(prune_method=method, quantizer=quant, penalty=pen, penalty_epochs=1, density=0.4,
                            fc_bits=3, retrain_epochs=1, finetune_epochs=0, batch_size=32, prune_iterations=1)
    net = _net(0)
    train(net, x, y, epochs=10, **_OPT)                                   # the float baseline
    logs = []
    cm, _ = compress_network(net, cfg, AcceleratorConfig(), train=data, eval_set=EvalSet(x[:64], y[:64], "t"),
                             progress=False, log=logs.append)
    idx = {l.name: l.indices[:, :-1] for l in cm.layers}
    if method in ("l1", "variational_dropout"):
        assert all(abs((i != 0).mean() - 0.4) < 0.02 for i in idx.values())
    elif method == "ssl":
        for name, i in idx.items():
            nz = i != 0
            assert np.array_equal(nz, nz.any(1)[:, None] & nz.any(0)[None, :]) and nz.mean() <= 0.4
        assert (idx["fc2"] != 0).any(1).all()
    else:
        prior = R.mixture_for(net)
        assert prior is not None
        mu = prior.mixture()[0]
        assert np.allclose(cm.layers[0].centroids[1:], mu[1:].astype(np.float32))
        assert 0 < np.mean(idx["fc1"] != 0) < 1
    assert cm.meta["test_error_pct"] < 60.0                              # 4 classes: better than chance


# ------------------------------------------------------------------ the extra parameters stay sane
def test_hook_adam_moves_the_extra_parameters_at_their_own_pace():
    """The trainer's SGD with momentum never moves them (they get a zero gradient); their own Adam
    moves each element by at most about its learning rate per step, whatever the loss scale."""
    x, y = _data(n=128)
    net = _net(1)
    h = R.VariationalDropoutHooks(net, 1000.0, lr=1e-2)                 # a huge KL weight
    train(net, x, y, epochs=1, hooks=h, **{**_OPT, "lr": 0.5})            # 4 steps at a big trainer rate
    ls = h.extra_params(torch)["fc1"].detach().numpy()
    assert np.isfinite(ls).all() and np.abs(ls + 10.0).max() <= 4 * 1e-2 + 1e-4 and np.abs(ls + 10.0).max() > 0


def test_hook_adam_is_torch_adam_per_parameter_rate_and_skips_what_got_no_gradient():
    adam = R._HookAdam(torch)
    a = adam.track(torch.nn.Parameter(torch.zeros(3)), 0.1)
    b = adam.track(torch.nn.Parameter(torch.zeros(2)), 0.01)
    (a * torch.tensor([1.0, -2.0, 0.0])).sum().backward()               # b gets no gradient
    assert torch.equal(a.grad, torch.zeros(3))                          # the trainer sees a zero gradient
    adam.step()
    assert torch.allclose(a.detach(), torch.tensor([-0.1, 0.1, 0.0]), atol=1e-6)   # Adam's first step: lr x sign
    assert torch.equal(b.detach(), torch.zeros(2))
    assert adam.opt.state[b] == {} and int(adam.opt.state[a]["step"]) == 1
    (b * 3.0).sum().backward()
    adam.step()
    assert torch.allclose(b.detach(), torch.full((2,), -0.01), atol=1e-6)
    assert int(adam.opt.state[a]["step"]) == 1                          # a skipped this time


def test_vd_training_stays_bounded_and_learns():
    """Would have caught the divergence: log s^2 finite and bounded, the weights in a sane range,
    the error far from chance (4 classes: 75%)."""
    x, y = _data(n=512)
    net = _net(1)
    train(net, x, y, epochs=10, **_OPT)
    w0 = max(np.abs(net.params[k]).max() for k in ("fc1", "fc2"))
    h = PRUNERS.get("variational_dropout").train_hooks(net, CompressionConfig(penalty=1.0 / 512))
    train(net, x, y, epochs=20, hooks=h, **_OPT)
    for k, p in h.extra_params(torch).items():
        ls = p.detach().numpy()
        assert np.isfinite(ls).all() and ls.min() >= -20.0 and ls.max() <= 0.0
        assert np.isfinite(net.params[k]).all() and np.abs(net.params[k]).max() < 3 * w0
    assert net.error_pct(x, y) < 30.0
    m = PRUNERS.get("variational_dropout").mask(net.params["fc1"], "fc1", CompressionConfig(density=1.0), hooks=h)
    assert 0 < m.mean() < 1                                              # log alpha > 3 prunes some, not all


def test_vd_fc_output_is_the_local_reparameterisation():
    net = _tiny()
    h = R.VariationalDropoutHooks(net, 1.0)
    with torch.no_grad():
        h.extra_params(torch)["fc1"].fill_(-2.0)                          # s^2 = e^-2 where log alpha is not clipped
    W = torch.tensor(net.params["fc1"])
    b = torch.tensor(net.params["fc1_bias"])
    x = np.array([1.0, 2.0], dtype=np.float32)
    X = torch.tensor(np.tile(x, (40000, 1)))
    torch.manual_seed(0)
    out = h.fc_output("fc1", X, W, b).detach().numpy()
    w = net.params["fc1"].astype(np.float64)
    la = np.clip(-2.0 - np.log(w * w + 1e-16), -8, 8)
    var = (x.astype(np.float64) ** 2 * np.exp(la) * w * w).sum(1)
    assert np.allclose(out.mean(0), w @ x + net.params["fc1_bias"], atol=0.02)
    assert np.allclose(out.var(0), var + 1e-8, rtol=0.05)                # a fresh draw per sample
    assert not np.allclose(out[0], out[1])


def test_sws_mixture_and_codebook_stay_in_the_weights_range():
    """Would have caught the divergence: the means stay within the weights' range, the variances
    finite and clamped, pi0 >= 0.5, the codebook is within the range."""
    x, y = _data()
    net = _net(1)
    train(net, x, y, epochs=10, **_OPT)
    cfg = CompressionConfig(penalty=5e-2, fc_bits=3, quantizer="sws")
    prior = PRUNERS.get("sws").train_hooks(net, cfg)
    train(net, x, y, epochs=20, hooks=prior, **_OPT)
    st = prior.stats()
    assert np.isfinite(st["mu"]).all() and np.isfinite(st["sigma"]).all()
    assert prior.lo <= st["mu"].min() and st["mu"].max() <= prior.hi
    assert (st["sigma"] >= 1e-3 * prior.range * 0.999).all() and (st["sigma"] <= 0.5 * prior.range * 1.001).all()
    assert st["pi"][0] >= 0.5 - 1e-6 and st["pi"].sum() == pytest.approx(1.0)
    vals = np.concatenate([np.ravel(net.params[k]) for k in prior.keys])
    codes, cb = share_values(vals[vals != 0], 3, cfg)
    assert prior.lo - 1e-6 <= cb.min() and cb.max() <= prior.hi + 1e-6
    assert net.error_pct(x, y) < 30.0


def test_sws_fused_gradient_matches_autograd():
    rng = np.random.default_rng(0)
    w = torch.tensor(rng.standard_normal(50) * 0.3, requires_grad=True)
    mu = torch.tensor(np.r_[0.0, np.linspace(-0.6, 0.6, 4)], requires_grad=True)
    ls = torch.tensor(np.log(rng.uniform(0.01, 0.1, 5)), requires_grad=True)
    lpi = torch.tensor(np.log(np.r_[0.9, np.full(4, 0.025)]), requires_grad=True)
    fused = R._mixture_nll(torch).apply(w, mu, ls, lpi)
    g1 = torch.autograd.grad(fused, (w, mu, ls, lpi))
    logp = lpi - 0.5 * (np.log(2 * np.pi) + ls) - 0.5 * (w[:, None] - mu) ** 2 / torch.exp(ls)
    ref = -torch.logsumexp(logp, 1).sum()
    g2 = torch.autograd.grad(ref, (w, mu, ls, lpi))
    assert fused.item() == pytest.approx(ref.item(), rel=1e-9)
    for a, b in zip(g1, g2):
        assert np.allclose(a.numpy(), b.numpy(), rtol=1e-7, atol=1e-9)
