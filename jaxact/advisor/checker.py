"""`check(fn, *args)`: finds the documents' output-layer mistakes in a user's own JAX program.

The program is traced with `jax.make_jaxpr` (nothing is compiled or run) and walked equation by
equation (walk.py), into every sub-jaxpr, loop body and branch. Pattern recognizers (patterns.py)
tag each value with what squashed it last (softmax, log-softmax, sigmoid, relu, logits; however
it is spelled) and its concrete value where the example arguments give it (values.py): that is
how the checker knows that the targets are one-hot rows, multi-hot rows, class indices or
unscaled regression values (targets.py). The rules (detect.py, rules.RULES) fire where a
squashing meets what it must not (a softmax over softmax outputs, a sigmoid loss over
probabilities, a softmax over an axis of size 1) and where a model output meets the targets in a
loss. Outputs of any rank are read with the class axis last and every other axis batch.

Arguments are taken as Equinox's filtered transformations take them: array leaves (jax and NumPy
arrays) are traced, every other leaf (functions, strings, flags, Python numbers) is static. The
same holds for what `fn` returns. A rule fires once, at the first place found; its `where` names
the line of your code.
"""

from __future__ import annotations

import functools
import warnings
from typing import Callable

import jax
import numpy as np

from jaxact.advisor import rules
from jaxact.advisor.patterns import Fact
from jaxact.advisor.rules import Finding
from jaxact.advisor.targets import Targets, classify_targets
from jaxact.advisor.walk import Walker, concrete_array

__all__ = ["MisuseError", "MisuseWarning", "Targets", "check", "checked", "classify_targets", "is_array"]


def is_array(leaf) -> bool:
    """A leaf that is traced (as `equinox.is_array`): a JAX or NumPy array or NumPy scalar of a
    numeric dtype (NumPy arrays of strings, objects or dates stay static: JAX cannot trace them)."""
    if isinstance(leaf, jax.Array):
        return True
    # ml_dtypes' bfloat16 and float8 have kind "V", as structured arrays do; only the latter have fields
    return isinstance(leaf, (np.ndarray, np.generic)) and leaf.dtype.kind not in "OSUMm" and leaf.dtype.names is None


def _traceable(fn: Callable, args: tuple, kwargs: dict) -> tuple[Callable, list]:
    """`fn` as a function of its array leaves only, and those leaves: every other leaf of the
    arguments is baked in as static, and non-array leaves of the result are dropped."""
    leaves, treedef = jax.tree.flatten((args, kwargs))
    dynamic = [i for i, leaf in enumerate(leaves) if is_array(leaf)]

    def traced(*arrays):
        full = list(leaves)
        for i, array in zip(dynamic, arrays):
            full[i] = array
        call_args, call_kwargs = jax.tree.unflatten(treedef, full)
        return [leaf for leaf in jax.tree.leaves(fn(*call_args, **call_kwargs)) if is_array(leaf)]

    return traced, [leaves[i] for i in dynamic]


def check(fn: Callable, *args, results=None, **kwargs) -> list[Finding]:
    """The documents' output-layer mistakes in `fn(*args, **kwargs)`, found in its traced program.

    `fn` is anything JAX traces: a loss function, a whole train step (Flax NNX, Linen +
    `TrainState`, Equinox or plain jax.numpy), jitted or not. Give real example arguments (a batch
    with its targets): whether targets are one-hot, multi-label, class indices or unscaled is read
    from their values. Non-array leaves (an `eqx.Module`'s functions, strings, flags) are static.
    Nothing is compiled or run; with tracers as arguments (inside `jax.jit`) only the rules that
    need no values apply.

    Returns:
      the findings, errors first; empty when nothing is wrong.
    """
    if not callable(fn):
        raise TypeError(f"check(fn, *args): fn must be the train step or loss function itself, got {type(fn).__name__}")
    traced, arrays = _traceable(fn, args, kwargs)
    closed = jax.make_jaxpr(traced)(*arrays)
    in_facts = []
    for array in arrays:
        value = concrete_array(array)
        in_facts.append(Fact(value=value, data=True))
    walker = Walker()
    walker.sub_jaxpr(closed, in_facts)
    documents = rules.load_documents(results)
    found = [rules.finding(rule, documents, hit.detail, at, measured=hit.measured)
             for rule, (hit, at) in walker.hits.items()]
    return sorted(found, key=lambda f: -rules.SEVERITIES.index(f.severity))


class MisuseError(ValueError):
    """`checked` found an error-severity misuse."""


class MisuseWarning(UserWarning):
    """`checked` found a warning-severity misuse."""


def checked(fn: Callable | None = None, *, on_error: str = "raise", results=None):
    """Decorates a train step (or loss) to `check` it on its first call, then get out of the way.

        @jaxact.checked
        @jax.jit
        def train_step(params, batch): ...

    The first call traces `fn` on its arguments (with their values: put `checked` outermost to see
    the targets), raises `MisuseError` on an error-severity finding (`on_error="warn"` warns instead)
    and warns `MisuseWarning` on the others; later calls go straight to `fn`. Under `jax.jit`
    (checked inside), the check runs once at trace time on abstract values.
    """
    if on_error not in ("raise", "warn"):
        raise ValueError(f"on_error must be 'raise' or 'warn', got {on_error!r}")
    if fn is None:
        return functools.partial(checked, on_error=on_error, results=results)
    done = []

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not done:
            done.append(True)
            findings = check(fn, *args, results=results, **kwargs)
            errors = [f for f in findings if f.severity == "error"]
            for f in findings:
                if f.severity == "warning" or on_error == "warn":
                    warnings.warn(f"{f.rule}: {f.message}", MisuseWarning, stacklevel=2)
            if errors and on_error == "raise":
                raise MisuseError("; ".join(f"{f.rule}: {f.message}" for f in errors))
        return fn(*args, **kwargs)

    return wrapper
