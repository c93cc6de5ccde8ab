"""The README's "Is my output layer right?" example: jaxact.check on a Flax NNX + optax train step.

    python examples/check_train_step.py
"""

import jax.numpy as jnp
import optax
from flax import nnx

import jaxact


class Classifier(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(784, 64, rngs=rngs)
        self.out = nnx.Linear(64, 10, rngs=rngs)

    def __call__(self, x):
        return nnx.softmax(self.out(nnx.relu(self.hidden(x))))  # probabilities "for convenience"


@nnx.jit
def train_step(model, optimizer, images, labels):
    def loss_fn(model):
        return optax.softmax_cross_entropy_with_integer_labels(model(images), labels).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


model = Classifier(nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)
images, labels = jnp.zeros((32, 784)), jnp.arange(32) % 10

for finding in jaxact.check(train_step, model, optimizer, images, labels):
    print(f"{finding.severity} [{finding.rule}] at {finding.where}")
    print(f"  {finding.message}")

# The same step on multi-label targets (rows with several 1s) is an error:
multi_hot = (jnp.arange(32)[:, None] % jnp.array([2, 3, 5, 7]) == 0).astype(jnp.float32)
model4 = nnx.Linear(784, 4, rngs=nnx.Rngs(0))
check_step = lambda model, images, targets: optax.softmax_cross_entropy(model(images), targets).mean()  # noqa: E731
for finding in jaxact.check(check_step, model4, images, multi_hot):
    print(f"{finding.severity} [{finding.rule}] at {finding.where}")
    print(f"  {finding.message}")
