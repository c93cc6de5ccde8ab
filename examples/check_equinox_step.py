"""jaxact.check on an Equinox train step: a model holding its activation functions, a step under
eqx.filter_jit that returns the model, per-token outputs and integer labels.

    python examples/check_equinox_step.py
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxact


class Tagger(eqx.Module):
    """Per-token classifier: Float[Array, "batch tokens 16"] -> Float[Array, "batch tokens 5"]."""

    hidden: eqx.nn.Linear
    out: eqx.nn.Linear
    activation: callable  # a function: a static leaf for check, as for eqx.filter_jit

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.hidden, self.out, self.activation = eqx.nn.Linear(16, 32, key=k1), eqx.nn.Linear(32, 5, key=k2), jax.nn.relu

    def __call__(self, tokens):
        token = lambda t: jax.nn.sigmoid(self.out(self.activation(self.hidden(t))))  # noqa: E731  (sigmoid "per tag")
        return jax.vmap(jax.vmap(token))(tokens)


optimizer = optax.adam(1e-3)


@eqx.filter_jit
def train_step(model, opt_state, tokens, labels):
    def loss_fn(model):
        return optax.softmax_cross_entropy_with_integer_labels(model(tokens), labels).mean()

    loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
    updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss


model = Tagger(jax.random.key(0))
opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
tokens, labels = jnp.zeros((8, 12, 16)), np.arange(8 * 12).reshape(8, 12) % 5

for finding in jaxact.check(train_step, model, opt_state, tokens, labels):
    print(f"{finding.severity} [{finding.rule}] at {finding.where}")
