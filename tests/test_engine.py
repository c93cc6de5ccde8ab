"""The CNN and the compiled engine, on small real-MNIST subsets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxact import data, models, tasks, train
from jaxact.combinations import Combination

MULTICLASS = tasks.get_task("multiclass")
CE_ON_LOGITS = Combination("multiclass", "softmax", "cross_entropy")
OPTIONS = train.Options.covering([train.Model(CE_ON_LOGITS, 0)])


@pytest.fixture(scope="module")
def small(mnist_dir):
    splits = data.make_splits("misuse", seed=0, sizes={"train": 1000, "valid": 500}, test_size=2000)
    return train.Dataset.for_task(MULTICLASS, splits)


def _config(**overrides):
    return train.EngineConfig(**{**dict(task="multiclass", options=OPTIONS, max_epochs=3, patience=10), **overrides})


def _models(*seeds, **fields):
    return [train.Model(CE_ON_LOGITS, seed, **fields) for seed in seeds]


def test_parameter_count_equals_the_documents():
    model = models.CNN(models.CNNConfig(num_outputs=10), nnx.Rngs(0))
    assert models.param_count(model) == 121_994
    sizes = {name: models.param_count(getattr(model, name)) for name in ("conv1", "conv2", "conv3", "fc", "out")}
    assert sizes == {"conv1": 320, "conv2": 18_496, "conv3": 36_928, "fc": 65_600, "out": 650}
    prelu = models.CNN(models.CNNConfig(conv_activation="prelu", fc_activation="prelu"), nnx.Rngs(0))
    assert models.param_count(prelu) == 121_994 + 4  # one slope per activation site


def test_pytorch_initialization_bounds():
    model = models.CNN(models.CNNConfig(), nnx.Rngs(0))
    for layer, fan_in in ((model.conv1, 9), (model.conv2, 288), (model.fc, 1024), (model.out, 64)):
        for value in (layer.kernel[...], layer.bias[...]):
            bound = 1 / np.sqrt(fan_in)
            assert float(jnp.max(jnp.abs(value))) <= bound and float(jnp.max(jnp.abs(value))) > 0.9 * bound


@pytest.mark.parametrize("initializer", models.INITIALIZERS)
def test_every_initializer_builds(initializer):
    model = models.CNN(models.CNNConfig(initializer=initializer), nnx.Rngs(0))
    assert models.param_count(model) == 121_994
    with pytest.raises(ValueError, match="unknown initializer"):
        models.CNN(models.CNNConfig(initializer="zeros"), nnx.Rngs(0))


def test_conv_paths_agree_in_values_and_gradients():
    model = models.CNN(models.CNNConfig(conv_activation="elu"), nnx.Rngs(0))
    graphdef, params = nnx.split(model)
    images = jax.random.normal(jax.random.key(1), (8, 28, 28, 1))

    def loss(params, impl):
        return jnp.sum(jnp.sin(nnx.merge(graphdef, params).logits(images, impl)))

    np.testing.assert_allclose(model.logits(images, "patches"), model.logits(images, "lax"), rtol=1e-5, atol=1e-5)
    grads_patches, grads_lax = (jax.grad(loss)(params, impl) for impl in ("patches", "lax"))
    for a, b in zip(jax.tree.leaves(grads_patches), jax.tree.leaves(grads_lax)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bfloat16_matmuls_match_float32_closely_and_run_in_bfloat16_both_ways():
    a = jax.random.normal(jax.random.key(3), (32, 288))
    b = jax.random.normal(jax.random.key(4), (288, 64)) / 17
    loss = lambda dtype: lambda a, b: jnp.sum(jnp.tanh(models.matmul(a, b, dtype)))  # noqa: E731
    np.testing.assert_allclose(models.matmul(a, b, "bfloat16"), a @ b, rtol=3e-2, atol=3e-2)
    for g16, g32 in zip(jax.grad(loss("bfloat16"), (0, 1))(a, b), jax.grad(loss("float32"), (0, 1))(a, b)):
        assert g16.dtype == jnp.float32
        np.testing.assert_allclose(g16, g32, rtol=5e-2, atol=5e-2)
    jaxpr = str(jax.make_jaxpr(jax.grad(loss("bfloat16"), (0, 1)))(a, b))
    # forward + 2 backward matmuls, all on bfloat16 inputs (a, b and the cotangent cast) with float32 accumulation
    assert jaxpr.count("dot_general") == 3 and jaxpr.count("preferred_element_type=float32") == 3
    assert jaxpr.count("convert_element_type[new_dtype=bfloat16") == 3
    with pytest.raises(ValueError, match="unknown matmul_dtype 'fp8'"):
        models.CNN(models.CNNConfig(matmul_dtype="fp8"), nnx.Rngs(0))


def test_bfloat16_cnn_trains_like_float32(small):
    results = {dtype: train.fit(_config(matmul_dtype=dtype), _models(0), small["train"], small["valid"], {"test": small["test"]})
               for dtype in ("float32", "bfloat16")}
    assert results["bfloat16"].evaluations["test"][0] >= 0.85
    assert abs(results["bfloat16"].evaluations["test"][0] - results["float32"].evaluations["test"][0]) < 0.03


@pytest.mark.parametrize("shape", [(32, 12, 12, 288), (32, 1024), (7, 64)])
def test_float32_matmul_gradients_are_autodiffs_in_another_layout(shape):
    a = jax.random.normal(jax.random.key(0), shape)
    b = jax.random.normal(jax.random.key(1), (shape[-1], 64)) / 17
    cotangent = jax.random.normal(jax.random.key(2), shape[:-1] + (64,))
    ours = jax.grad(lambda a, b: jnp.vdot(models.matmul(a, b), cotangent), (0, 1))(a, b)
    autodiff = jax.grad(lambda a, b: jnp.vdot(a @ b, cotangent), (0, 1))(a, b)
    for x, y in zip(ours, autodiff):
        # sums of 4,608 products in another order: float32 rounding of the partial sums, not a wrong layout
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(y))))


def test_max_pool_matches_reduce_window():
    x = jax.random.normal(jax.random.key(2), (2, 13, 12, 3))
    expected = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    np.testing.assert_array_equal(models.max_pool_2x2(x), expected)


@pytest.mark.parametrize("shape", [(2, 13, 12, 3), (3, 28, 28, 4)])
def test_max_pool_gradient_is_autodiffs_bit_for_bit_with_ties(shape):
    # Ties as in the CNN: a constant block (conv1 over MNIST's background is its bias) and ReLU zeros.
    x = jax.nn.relu(jax.random.normal(jax.random.key(3), shape)).at[:, :6, :6, :].set(0.25)
    cotangent = jax.random.normal(jax.random.key(4), models.max_pool_2x2(x).shape)
    autodiff = jax.grad(lambda x: jnp.vdot(jnp.max(models._pool_windows(x), axis=(2, 4)), cotangent))(x)
    ours = jax.grad(lambda x: jnp.vdot(models.max_pool_2x2(x), cotangent))(x)
    assert int(jnp.sum(ours[:, :6, :6, :] != 0)) == ours.shape[0] * 9 * shape[3] * 4  # every tie gets g/4
    np.testing.assert_array_equal(ours, autodiff)
    batched = jax.vmap(jax.grad(lambda x, c: jnp.vdot(models.max_pool_2x2(x), c)))(x[:, None], cotangent[:, None])
    np.testing.assert_array_equal(batched[:, 0], autodiff)


def test_training_on_real_mnist_learns(small):
    result = train.fit(_config(), _models(0), small["train"], small["valid"], {"test": small["test"]})
    assert result.evaluations["test"][0] >= 0.85
    assert result.epochs[0] == 3 and np.all(np.diff(result.train_loss[0]) < 0)
    # the returned params are the best epoch's: evaluating them gives the best valid metric
    pool, sample = train.pool_of(small["train"], small["valid"])
    row = train.Rows(*(jnp.asarray(c[0]) for c in train.Rows.of(OPTIONS, _models(0), [sample])))
    params = jax.tree.map(lambda a: a[0], result.params)
    stats = tasks.label_stats(jnp.asarray(small["train"].targets))
    metric = train.evaluate(_config().resolved(), row, params, train.Dataset(*map(jnp.asarray, small["valid"])), stats)
    assert float(metric) == pytest.approx(float(result.best_valid[0]), abs=1e-6)


def test_early_stopping_on_a_scripted_metric_sequence():
    scores = jnp.array([0.5, 0.7, 0.6, 0.7, 0.65, 0.69, 0.9, 0.1])  # best 0.7 at epoch 1; ties don't count
    state = train.EarlyStopping.start(jnp.float32(-1))
    ran = 0
    for epoch, score in enumerate(scores):
        state = state.update(jnp.int32(epoch), jnp.float32(epoch), jnp.float32(1.0), score, patience=4)
        ran += 1
        if bool(state.done):
            break
    assert ran == 1 + 1 + 4  # stops exactly patience epochs after the best
    assert int(state.best_epoch) == 1 and float(state.best_params) == 1.0 and not bool(state.diverged)
    nan = train.EarlyStopping.start(jnp.float32(0)).update(jnp.int32(0), jnp.float32(0), jnp.float32(jnp.nan), 0.5, 4)
    assert bool(nan.done) and bool(nan.diverged) and int(nan.best_epoch) == -1


def test_vmapped_equals_sequential_and_nan_model_is_isolated(small):
    rows = _models(0, 1) + _models(0, learning_rate=np.nan)
    subset = lambda d: train.Dataset(d.images[:300], d.targets[:300])  # noqa: E731
    sequential = train.fit(_config(max_epochs=2, models_in_parallel=1), rows, subset(small["train"]), subset(small["valid"]))
    vmapped = train.fit(_config(max_epochs=2, models_in_parallel=3), rows, subset(small["train"]), subset(small["valid"]))
    for result in (sequential, vmapped):
        assert result.diverged.tolist() == [False, False, True]
        assert result.epochs.tolist() == [2, 2, 1]
        assert np.isfinite(result.train_loss[:2]).all()
    np.testing.assert_allclose(sequential.train_loss[:2], vmapped.train_loss[:2], rtol=1e-4)
    np.testing.assert_allclose(sequential.valid_metric[:2], vmapped.valid_metric[:2], atol=2 / 300)
    assert not np.array_equal(sequential.train_loss[0], sequential.train_loss[1])  # seeds differ


def test_second_fit_with_same_shapes_does_not_recompile(small):
    pool, sample = train.pool_of(*(train.Dataset(d.images[:200], d.targets[:200]) for d in (small["train"], small["valid"])))
    program = train.Program(_config(max_epochs=1))
    program.fit(_models(0), pool, [sample])
    program.fit(_models(3), pool, [sample], on_epoch=lambda r: None)  # with a listener: the other program, once
    reports = []
    again = program.fit(_models(5), pool, [sample], on_epoch=reports.append)
    quiet = program.fit(_models(6), pool, [sample])
    assert program.traces == 2 and again.compile_seconds < 1.0 and quiet.compile_seconds < 1.0
    assert [(r.model, r.epoch, r.done) for r in reports] == [(0, 0, True)]


def test_bad_names_fail_clearly():
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        train.EngineConfig("multiclass", train.Options(objective=(train.Objective("hinge"),))).resolved()
    with pytest.raises(ValueError, match="unknown task"):
        train.EngineConfig("ranking", OPTIONS).resolved()
    with pytest.raises(ValueError, match="final_activation 'sigmoid' is not among this program's options"):
        OPTIONS.indices(train.Model(Combination("multiclass", "sigmoid", "bce"), 0))
    with pytest.raises(ValueError, match="changes the feature shape"):
        models.CNN(models.CNNConfig(conv_activation="softmax"), nnx.Rngs(0))


def _mixed_program(small):
    """Three models of one task that differ in combination, seed and data sample, on one pool."""
    pool, _ = train.pool_of(small["train"], small["valid"])
    samples = [train.Sample(np.arange(0, 300), np.arange(1000, 1150)),
               train.Sample(np.arange(300, 600), np.arange(1150, 1300)),
               train.Sample(np.arange(600, 900)[::-1], np.arange(1300, 1450))]
    mixed = [train.Model(CE_ON_LOGITS, 0), train.Model(Combination("multiclass", "sigmoid", "cce"), 1),
             train.Model(Combination("multiclass", "softmax", "cce"), 2, learning_rate=2e-3)]
    return pool, samples, mixed, train.Options.covering(mixed)


def test_a_program_mixing_combinations_seeds_and_samples_gives_each_model_its_result_alone(small):
    """One after another (the CPU default), bit for bit: a model's numbers depend only on itself."""
    pool, samples, mixed, options = _mixed_program(small)
    program = train.Program(_config(options=options, max_epochs=2, models_in_parallel=1))
    together = program.fit(mixed, pool, samples, {"test": small["test"]})
    for i in range(3):
        alone = program.fit(mixed[i:i + 1], pool, samples[i:i + 1], {"test": small["test"]})
        np.testing.assert_array_equal(together.train_loss[i], alone.train_loss[0])
        np.testing.assert_array_equal(together.valid_metric[i], alone.valid_metric[0])
        assert together.evaluations["test"][i] == alone.evaluations["test"][0]
    assert len({float(x) for x in together.train_loss[:, 0]}) == 3  # three different models


def test_vmapped_mixed_program_matches_each_model_alone_within_tolerance(small):
    """Vmapped (the accelerator default) the same models agree with their one-at-a-time results to
    float32 reassociation: losses within 1e-4 relative, metrics within 2 images, the same epochs."""
    pool, samples, mixed, options = _mixed_program(small)
    vmapped = train.Program(_config(options=options, max_epochs=2, models_in_parallel=3)).fit(mixed, pool, samples)
    sequential = train.Program(_config(options=options, max_epochs=2, models_in_parallel=1))
    for i in range(3):
        alone = sequential.fit(mixed[i:i + 1], pool, samples[i:i + 1])
        np.testing.assert_allclose(vmapped.train_loss[i], alone.train_loss[0], rtol=1e-4)
        np.testing.assert_allclose(vmapped.valid_metric[i], alone.valid_metric[0], atol=2 / 150)
        assert vmapped.epochs[i] == alone.epochs[0]


def test_probes_measure_sparsity_and_the_output_sign():
    """ReLU conv layers output exact zeros, ELU and leaky ReLU almost none; a regression head's
    output sign is counted over the model's own train rows, at initialization and at the best epoch."""
    rng = np.random.default_rng(0)
    task = tasks.get_task("regression")
    pool = train.Dataset(rng.uniform(-1, 1, (200, 28, 28, 1)).astype(np.float32), task.targets(rng.integers(0, 10, 200)))
    head = Combination("regression", "relu", "mse", label_transform="standardize")
    chosen = [train.Model(head, 0, conv, "sigmoid") for conv in ("relu", "elu", "leaky_relu_0.1")]
    config = train.EngineConfig("regression", train.Options.covering(chosen), max_epochs=1,
                                probes=("sparsity", "positive_outputs"))
    result = train.Program(config).fit(chosen, pool, [train.Sample(np.arange(100), np.arange(100, 150))] * 3,
                                       {"test": train.Dataset(pool.images[150:], pool.targets[150:])})
    zeros = result.probes["sparsity"][:, :3, 0]  # conv1-3, exactly 0
    assert result.probes["sparsity"].shape == (3, 4, 2)
    assert np.all(zeros[0] > 0.2) and np.all(zeros[1:] < 0.01)
    near = result.probes["sparsity"][:, :, 1]
    assert np.all(near >= result.probes["sparsity"][:, :, 0])  # exactly 0 is near 0 too
    positive = result.probes["positive_outputs"]
    assert positive.shape == (3, 2, 2) and np.all((0 <= positive[..., 0]) & (positive[..., 0] <= 1))
    with pytest.raises(ValueError, match="unknown probe 'curvature'"):
        train.EngineConfig("regression", probes=("curvature",)).resolved()


def test_a_second_process_loads_the_compiled_program_from_the_persistent_cache(tmp_path):
    import os
    import subprocess
    import sys

    code = """
import numpy as np
from jaxact import backend, tasks, train
from jaxact.combinations import Combination
backend.cache_compiled_programs()
task = tasks.get_task("multiclass")
pool = train.Dataset(np.zeros((64, 28, 28, 1), np.float32), task.targets(np.arange(64) % 10))
config = train.EngineConfig("multiclass", max_epochs=1)
fit = train.Program(config).fit([train.Model(Combination("multiclass", "softmax", "cce"), 0)], pool,
                                [train.Sample(np.arange(32), np.arange(32, 64))])
print(fit.compile_seconds)
"""
    env = {**os.environ, "JAXACT_CACHE_DIR": str(tmp_path)}
    seconds = [float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout.split()[-1]) for _ in range(2)]
    assert seconds[1] < seconds[0] / 3, seconds
    assert list((tmp_path / "xla").glob("jit__trace-*"))


def test_a_toy_loss_added_as_one_spec_is_known_to_combinations_the_engine_and_advise(monkeypatch):
    """README "Extending jaxact": a loss is one `losses.Spec`. A Huber loss registered that way (and
    its optax alias) is a Combination's loss, trains in the compiled engine, and is reasoned about
    from its spec alone (it expects values, so it squashes nothing twice and needs no correction)."""
    from jaxact import losses

    def huber(predictions, targets, delta=1.0):
        error = jnp.abs(predictions - targets)
        return jnp.mean(jnp.where(error < delta, 0.5 * error**2, delta * (error - 0.5 * delta)), axis=-1)

    monkeypatch.setitem(losses.SPECS, "huber", losses.Spec("huber", huber, "values", aliases=("huber_loss",)))
    head = Combination("regression", "identity", "huber_loss")  # the optax spelling reaches the registry name
    assert (head.loss, head.squashes_twice, head.corrected()) == ("huber", False, None)

    # Labels a linear read-out of the images can fit: the mean brightness of each image's own digit.
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 10, 300)
    images = (rng.uniform(0, 0.2, (300, 28, 28, 1)) + digits[:, None, None, None] / 10).astype(np.float32)
    task = tasks.get_task("regression")
    pool = train.Dataset(images, task.targets(digits))
    model = [train.Model(head, 0)]
    config = train.EngineConfig("regression", train.Options.covering(model), max_epochs=4, patience=10)
    fit = train.Program(config).fit(model, pool, [train.Sample(np.arange(200), np.arange(200, 300))])
    loss = fit.train_loss[0][: int(fit.epochs[0])]
    assert np.all(np.isfinite(loss)) and loss[-1] < 0.5 * loss[0], loss
    assert fit.valid_metric[0][int(fit.epochs[0]) - 1] < 0.5 * np.var(digits)  # valid MSE far below the mean's
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        Combination("regression", "identity", "hinge")


def test_a_toy_loss_is_advised_by_its_spec_not_its_name(monkeypatch):
    """A focal loss that applies its own log-softmax, added as one spec: `advise` reports a softmax
    output fed to it as a double softmax, and it on a regression target as a classification loss -
    rules match what a loss squashes and expects, so no rule names it."""
    from jaxact import advise, losses

    def focal(logits, targets, gamma=2.0):
        log_p = jax.nn.log_softmax(logits)
        return -jnp.sum(targets * (1 - jnp.exp(log_p)) ** gamma * log_p, axis=-1)

    monkeypatch.setitem(losses.SPECS, "focal", losses.Spec("focal", focal, "logits", "softmax"))
    assert [f.rule for f in advise("multiclass", "softmax", "focal")] == ["double-softmax"]
    assert [f.rule for f in advise("multiclass", "identity", "focal")] == ["ok"]
    assert "classification-loss-on-regression" in [f.rule for f in advise("regression", "identity", "focal")]
    assert Combination("multiclass", "softmax", "focal").corrected() == Combination("multiclass", "softmax", "focal",
                                                                                    on_logits=True)


def test_uint8_pixels_train_as_their_scaled_images_bit_for_bit(mnist_dir):
    """The studies hand the program uint8 pixels (scaled where it reads them); the float images
    data.scale makes must give the same bits in every output."""
    splits = data.make_splits("misuse", seed=2, sizes={"train": 1000, "valid": 300}, test_size=500)
    as_images = {n: train.Dataset(s.images, MULTICLASS.targets(s.digits)) for n, s in splits.items()}
    as_pixels = {n: train.Dataset(s.pixels, MULTICLASS.targets(s.digits)) for n, s in splits.items()}
    assert as_pixels["train"].images.dtype == np.uint8 and as_images["train"].images.dtype == np.float32
    program = train.Program(_config(max_epochs=3))
    results = []
    for datasets in (as_images, as_pixels):
        pool, sample = train.pool_of(datasets["train"], datasets["valid"])
        results.append(program.fit(_models(0, 1), pool, [sample] * 2, {"test": datasets["test"]}))
    for field in ("train_loss", "valid_metric", "best_valid", "epochs", "best_epoch"):
        np.testing.assert_array_equal(getattr(results[0], field), getattr(results[1], field))
    np.testing.assert_array_equal(results[0].evaluations["test"], results[1].evaluations["test"])
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, results[0].params, results[1].params)))
    assert float(results[0].evaluations["test"].min()) > 0.3  # it learned (chance 0.1)
