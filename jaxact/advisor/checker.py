"""`check(fn, *args)`: finds the documents' output-layer mistakes in a user's own JAX program.

The program is traced with `jax.make_jaxpr` (nothing is compiled or run) and an abstract
interpreter walks its equations, into every sub-jaxpr (jit, custom_jvp/vjp, remat, scan, cond,
while). Each value carries a `Fact`:

- what squashed it last: `softmax` / `log_softmax` (with the axis and its size), `sigmoid`,
  `log_sigmoid`, `relu`, or `logits` (a dense/conv output). Shape operations and clipping keep
  the tag; arithmetic drops it. Softmax, log-softmax and logsumexp are recognised by their
  structure however they are spelled (exp(x - max) / sum, x - log(sum(exp)), optax's
  integer-label form), a sigmoid as `logistic`, 1 / (1 + exp(-x)) or optax's log_sigmoid.
- its concrete value, where it comes from the example arguments through cheap operations
  evaluated with NumPy (one_hot, casts, reshapes, standardization): that is how the checker knows
  that the targets are one-hot rows, multi-label rows or unscaled regression values.

Rules fire where a squashing meets what it must not (a softmax over softmax outputs, a sigmoid
loss over probabilities, a softmax over an axis of size 1) and where a model output meets the
targets in a loss (`mul` / `sub` against concrete rows of the batch). A rule fires once, at the
first place found; its `where` names the line of your code.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from typing import Any, Callable

import jax
import numpy as np
from jax.extend import core as jcore

from jaxact.advisor import rules
from jaxact.advisor.rules import Finding

_MAX_EVAL_ELEMENTS = 10_000_000  # concrete values larger than this are not propagated
PROBABILITY = ("softmax", "sigmoid")
SOFTMAX_FAMILY = ("softmax", "log_softmax", "log_of_softmax")
SIGMOID_FAMILY = ("sigmoid", "log_sigmoid", "log_of_sigmoid")


@dataclasses.dataclass(frozen=True)
class Fact:
    """What the interpreter knows about one value.

    tag: the last squashing (see the module doc), or a partial pattern of one ("exp", "sumexp",
      "max_of", "shifted", "neg", "one_plus_exp_neg", "lse", "one_minus") whose `source` is the
      fact of the value the pattern started from.
    axis/size: the reduced axis of a softmax-like pattern and its length.
    value: the concrete value, if known.
    """

    tag: str | None = None
    source: "Fact | None" = None
    axis: tuple[int, ...] = ()
    size: int | None = None
    value: np.ndarray | None = None


UNKNOWN = Fact()


def _concrete(fact: Fact) -> bool:
    return fact.value is not None


# --- NumPy evaluation of the cheap operations targets go through ---------------------------------

def _broadcast_in_dim(x, shape, broadcast_dimensions, **_):
    expanded = np.reshape(x, [x.shape[broadcast_dimensions.index(d)] if d in broadcast_dimensions else 1
                              for d in range(len(shape))])
    return np.broadcast_to(expanded, shape)


def _iota(dtype, shape, dimension, **_):
    return np.broadcast_to(np.arange(shape[dimension], dtype=dtype).reshape(
        [-1 if d == dimension else 1 for d in range(len(shape))]), shape)


def _reduce(fn):
    return lambda x, axes, **_: fn(x, axis=tuple(axes))


_NUMPY: dict[str, Callable] = {
    "convert_element_type": lambda x, new_dtype, **_: x.astype(np.dtype(new_dtype)),
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": lambda x, new_sizes, **_: np.reshape(x, new_sizes),
    "squeeze": lambda x, dimensions, **_: np.squeeze(x, tuple(dimensions)),
    "expand_dims": lambda x, dimensions, **_: np.expand_dims(x, tuple(dimensions)),
    "transpose": lambda x, permutation, **_: np.transpose(x, permutation),
    "iota": _iota,
    "copy": lambda x, **_: x, "copy_p": lambda x, **_: x, "stop_gradient": lambda x, **_: x,
    "eq": lambda a, b, **_: np.equal(a, b), "ne": lambda a, b, **_: np.not_equal(a, b),
    "lt": lambda a, b, **_: np.less(a, b), "le": lambda a, b, **_: np.less_equal(a, b),
    "gt": lambda a, b, **_: np.greater(a, b), "ge": lambda a, b, **_: np.greater_equal(a, b),
    "add": lambda a, b, **_: np.add(a, b), "sub": lambda a, b, **_: np.subtract(a, b),
    "mul": lambda a, b, **_: np.multiply(a, b),
    "div": lambda a, b, **_: np.true_divide(a, b) if np.issubdtype(np.result_type(a, b), np.floating) else None,
    "neg": lambda x, **_: np.negative(x), "abs": lambda x, **_: np.abs(x),
    "sqrt": lambda x, **_: np.sqrt(x), "rsqrt": lambda x, **_: 1 / np.sqrt(x),
    "square": lambda x, **_: np.square(x), "integer_pow": lambda x, y, **_: x ** y,
    "max": lambda a, b, **_: np.maximum(a, b), "min": lambda a, b, **_: np.minimum(a, b),
    "select_n": lambda which, *cases, **_: np.choose(np.asarray(which, np.int32), cases),
    "reduce_sum": _reduce(np.sum), "reduce_max": _reduce(np.max), "reduce_min": _reduce(np.min),
    "slice": lambda x, start_indices, limit_indices, strides=None, **_: x[tuple(
        slice(a, b, s) for a, b, s in zip(start_indices, limit_indices, strides or [1] * x.ndim))],
}

# Operations that keep what squashed a value (its tag), and the operand that carries it.
_KEEPS_TAG = {"convert_element_type", "broadcast_in_dim", "reshape", "squeeze", "expand_dims", "transpose",
              "copy", "copy_p", "stop_gradient", "slice", "dynamic_slice", "gather", "reduce_precision",
              "optimization_barrier"}


def _evaluate(eqn, facts: list[Fact]) -> list[np.ndarray | None]:
    fn = _NUMPY.get(eqn.primitive.name)
    if fn is None or not all(_concrete(f) for f in facts):
        return [None] * len(eqn.outvars)
    if any(f.value.size > _MAX_EVAL_ELEMENTS for f in facts):
        return [None] * len(eqn.outvars)
    try:
        with np.errstate(all="ignore"):
            out = fn(*(f.value for f in facts), **eqn.params)
    except Exception:  # an operation NumPy spells differently: the value stays unknown
        return [None] * len(eqn.outvars)
    if out is None:
        return [None]
    out = np.asarray(out)
    return [out if out.shape == tuple(eqn.outvars[0].aval.shape) else None]


# --- what the targets are -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Targets:
    kind: str  # "exclusive" (one-hot rows), "multilabel", "binary", "soft", "regression"
    classes: int
    detail: str


def classify_targets(value: np.ndarray) -> Targets:
    """What rows of targets say about the task. Negated labels (-y, as in -y * log p) count as y."""
    y = np.asarray(value, np.float64)
    if y.size and y.max() <= 0 and y.min() < 0:
        y = -y
    rows = y.reshape(-1, y.shape[-1]) if y.ndim >= 2 else y.reshape(-1, 1)
    classes = rows.shape[1]
    if np.isin(rows, (0.0, 1.0)).all():
        positives = rows.sum(1)
        if classes == 1:
            return Targets("binary", 1, "one 0/1 column")
        if np.all(positives == 1):
            return Targets("exclusive", classes, f"one-hot rows of {classes} classes")
        other = int(np.sum(positives != 1))
        return Targets("multilabel", classes, f"{other} of {len(rows)} target rows have other than exactly one "
                                              f"positive of {classes}")
    if rows.min() >= 0 and rows.max() <= 1:
        return Targets("soft", classes, "soft targets in [0, 1]")
    return Targets("regression", classes, f"real-valued targets, mean {rows.mean():.2f}, std {rows.std():.2f}")


# --- the interpreter ------------------------------------------------------------------------------

_LIBRARY_DIRS = tuple(os.path.dirname(os.path.dirname(m.__file__)) + os.sep for m in (jax, np))


def _where(eqn) -> str:
    """file:line (function) of the innermost frame of the user's code that made `eqn`."""
    try:
        frames = eqn.source_info.traceback.frames
    except AttributeError:
        return ""
    package_dir = os.path.dirname(os.path.dirname(__file__)) + os.sep
    for frame in frames:
        name = frame.file_name
        if ("site-packages" in name or "dist-packages" in name or name.startswith(_LIBRARY_DIRS)
                or name.startswith(package_dir) or name.startswith("<frozen")):
            continue
        return f"{os.path.basename(name)}:{frame.line_num} ({frame.function_name})"
    return ""


class _Interpreter:
    def __init__(self):
        self.hits: dict[str, tuple[str, str]] = {}  # rule -> (detail, where), first found
        self.calls: list = []  # the call equations being interpreted, outermost first

    def flag(self, rule: str, eqn, detail: str = "") -> None:
        if rule in self.hits:
            return
        # A cached library function's inner equations may carry no frame of the user's code; its call does.
        where = next((w for e in [eqn, *reversed(self.calls)] if (w := _where(e))), "")
        self.hits[rule] = (detail, where)

    def run(self, jaxpr, consts: list, in_facts: list[Fact]) -> list[Fact]:
        env: dict[Any, Fact] = {}

        def read(v) -> Fact:
            if isinstance(v, jcore.Literal):
                return Fact(value=np.asarray(v.val))
            return env.get(v, UNKNOWN)

        for var, value in zip(jaxpr.constvars, consts):
            env[var] = Fact(value=np.asarray(value)) if _small(value) else UNKNOWN
        for var, fact in zip(jaxpr.invars, in_facts):
            env[var] = fact
        for eqn in jaxpr.eqns:
            facts = [read(v) for v in eqn.invars]
            outs = self.equation(eqn, facts)
            for var, fact in zip(eqn.outvars, outs):
                env[var] = fact
        return [read(v) for v in jaxpr.outvars]

    def sub_jaxpr(self, closed, facts: list[Fact]) -> list[Fact]:
        if isinstance(closed, jcore.ClosedJaxpr):
            return self.run(closed.jaxpr, closed.consts, facts)
        return self.run(closed, [], facts)

    def equation(self, eqn, facts: list[Fact]) -> list[Fact]:
        name = eqn.primitive.name
        params = eqn.params
        if name in ("scan", "while", "cond"):
            return self.control_flow(eqn, facts)
        inner = next((params[k] for k in ("jaxpr", "call_jaxpr", "fun_jaxpr") if k in params), None)
        if inner is not None:
            self.calls.append(eqn)
            try:
                outs = self.sub_jaxpr(inner, facts)
            finally:
                self.calls.pop()
            return self.named_call(eqn, facts, outs)
        values = _evaluate(eqn, facts)
        tags = self.tag(eqn, facts)
        return [dataclasses.replace(tags[i] if i < len(tags) else UNKNOWN, value=values[i] if i < len(values) else None)
                for i in range(len(eqn.outvars))]

    def control_flow(self, eqn, facts: list[Fact]) -> list[Fact]:
        """Loops and branches: their bodies are checked with tags but without concrete values."""
        abstract = [dataclasses.replace(f, value=None) for f in facts]
        params = eqn.params
        if eqn.primitive.name == "cond":
            outs = [self.sub_jaxpr(branch, abstract[1:]) for branch in params["branches"]]
            return [next((o[i] for o in outs if o[i].tag), UNKNOWN) for i in range(len(eqn.outvars))]
        if eqn.primitive.name == "while":
            body_consts = params["body_nconsts"]
            cond_consts = params["cond_nconsts"]
            carry = abstract[cond_consts + body_consts:]
            self.sub_jaxpr(params["cond_jaxpr"], abstract[:cond_consts] + carry)
            return self.sub_jaxpr(params["body_jaxpr"], abstract[cond_consts:cond_consts + body_consts] + carry)
        outs = self.sub_jaxpr(params["jaxpr"], abstract)
        return [dataclasses.replace(o, value=None) for o in outs]

    def named_call(self, eqn, facts: list[Fact], outs: list[Fact]) -> list[Fact]:
        """Library functions known by name whose inside does not show what they compute."""
        name = eqn.params.get("name", "")
        if name in ("log_sigmoid", "softplus") and facts:
            x = facts[0]
            negated = x.tag == "neg"
            argument = x.source if negated else x
            self.sigmoid_applied(eqn, argument)
            # log_sigmoid(-z) and softplus(z) are log(1 - sigmoid(z)) (up to sign): the "no" term of a BCE
            positive = (name == "log_sigmoid") != negated
            return [Fact("log_sigmoid" if positive else "one_minus")] + outs[1:]
        if name == "relu":
            return [Fact("relu")] + outs[1:]
        return outs

    def sigmoid_applied(self, eqn, x: Fact | None) -> None:
        if x is None:
            return
        if x.tag == "sigmoid":
            self.flag("sigmoid-twice", eqn)
        elif x.tag == "softmax":
            self.flag("softmax-into-sigmoid-loss", eqn)

    def softmax_applied(self, eqn, x: Fact, axes: tuple[int, ...], size: int) -> None:
        """A softmax, log-softmax or logsumexp of `x` over `axes` (of total length `size`)."""
        if size == 1:
            self.flag("softmax-single-output", eqn, "over an axis of size 1")
        if x.tag == "softmax":
            self.flag("double-softmax", eqn)
        elif x.tag == "sigmoid":
            self.flag("sigmoid-into-softmax-loss", eqn)

    def meets_targets(self, eqn, output: Fact, targets: Fact, output_shape, target_shape) -> None:
        """A model output and concrete targets combined in a loss (mul or sub)."""
        if output.tag not in SOFTMAX_FAMILY + SIGMOID_FAMILY + ("relu", "logits"):
            return
        if len(target_shape) == 0 or targets.value.size < 2 or len(output_shape) == 0:
            return
        if len(output_shape) > 2 or len(target_shape) > 2 or output_shape[0] != target_shape[0]:
            return  # not (batch,) or (batch, outputs) rows: e.g. parameters
        kind = classify_targets(targets.value)
        if output.tag in SOFTMAX_FAMILY and kind.kind == "multilabel":
            self.flag("softmax-multilabel", eqn, kind.detail)
        elif output.tag in SIGMOID_FAMILY and kind.kind == "exclusive" and kind.classes >= 3:
            self.flag("sigmoid-exclusive-classes", eqn, kind.detail)
        elif kind.kind == "regression" and eqn.primitive.name == "sub":
            if output.tag == "sigmoid":
                self.flag("sigmoid-regression-output", eqn, kind.detail)
            elif output.tag == "relu":
                self.flag("relu-regression-output", eqn, kind.detail)
            if output.tag in ("logits", "relu", "sigmoid") and (problem := rules.target_scale_problem(targets.value)):
                self.flag("unscaled-regression-targets", eqn, problem)

    def tag(self, eqn, facts: list[Fact]) -> list[Fact]:
        """The squashing tags of an equation's outputs (values are filled in by the caller)."""
        name = eqn.primitive.name
        x = facts[0] if facts else UNKNOWN
        if name in _KEEPS_TAG:
            return [dataclasses.replace(x, value=None)] if x.tag else [UNKNOWN]
        if name == "clamp":  # clamp(lo, x, hi): clipping probabilities keeps them probabilities
            return [dataclasses.replace(facts[1], value=None)]
        if name == "logistic":
            self.sigmoid_applied(eqn, x)
            return [Fact("sigmoid")]
        if name in ("dot_general", "conv_general_dilated"):
            return [Fact("logits")]
        if name == "reduce_max":
            return [Fact("max_of", source=x)]
        if name == "neg":
            return [Fact("neg", source=x)] if not _concrete(x) else [UNKNOWN]
        if name == "exp":
            inner = x.source if x.tag == "shifted" else x
            return [Fact("exp", source=inner)]
        if name == "reduce_sum" and x.tag == "exp":
            axes = tuple(eqn.params["axes"])
            size = int(np.prod([eqn.invars[0].aval.shape[a] for a in axes]))
            if x.source is not None and x.source.tag == "neg":
                return [UNKNOWN]
            self.softmax_applied(eqn, x.source or UNKNOWN, axes, size)
            return [Fact("sumexp", source=x, axis=axes, size=size)]
        if name == "abs" and x.tag in ("sumexp",) + PROBABILITY:  # |p| = p
            return [dataclasses.replace(x, value=None)]
        if name == "log":
            return [self.log(eqn, x)]
        if name == "log1p":
            if x.tag == "exp" and x.source is not None and x.source.tag == "neg":  # log(1 + exp(-z)) = -log sigmoid(z)
                self.sigmoid_applied(eqn, x.source.source)
                return [Fact("log_sigmoid")]
            return [Fact("one_minus")] if x.tag == "neg" else [UNKNOWN]
        if name in ("max", "min"):
            return [self.max_min(eqn, facts)]
        if name == "select_n":
            tagged = [f for f in facts[1:] if f.tag]
            return [dataclasses.replace(tagged[0], value=None)] if len(tagged) == 1 else [UNKNOWN]
        if name in ("add", "sub", "mul", "div"):
            return [self.binary(eqn, facts)]
        return [UNKNOWN]

    def log(self, eqn, x: Fact) -> Fact:
        if x.tag == "sumexp":
            return Fact("lse", source=x.source.source if x.source else None, axis=x.axis, size=x.size)
        if x.tag == "softmax":
            self.flag("log-of-softmax", eqn)
            return Fact("log_of_softmax")
        if x.tag == "sigmoid":
            return Fact("log_of_sigmoid")
        if x.tag in ("logits", "relu"):
            self.flag("log-of-unbounded", eqn, f"log of a {x.tag} output")
        return UNKNOWN

    def max_min(self, eqn, facts: list[Fact]) -> Fact:
        a, b = facts
        tagged, other = (a, b) if a.tag else (b, a)
        if tagged.tag == "max_of":
            return tagged
        if tagged.tag in PROBABILITY and _concrete(other) and other.value.ndim == 0:
            return dataclasses.replace(tagged, value=None)  # clipping a probability
        if eqn.primitive.name == "max" and _concrete(other) and other.value.ndim == 0 and float(other.value) == 0.0:
            return Fact("relu", source=tagged)
        return UNKNOWN

    def binary(self, eqn, facts: list[Fact]) -> Fact:
        name = eqn.primitive.name
        a, b = facts
        shapes = [tuple(v.aval.shape) for v in eqn.invars]
        for i, (output, targets) in enumerate(((a, b), (b, a))):
            if name in ("mul", "sub") and _concrete(targets) and not _concrete(output):
                self.meets_targets(eqn, output, targets, shapes[i], shapes[1 - i])
        if name == "sub":
            if b.tag == "max_of" and b.source is not None:
                return Fact("shifted", source=a)
            if b.tag == "lse" and not _concrete(a):  # x - logsumexp(x): a log-softmax
                base = a.source if a.tag == "shifted" else a
                return Fact("log_softmax", source=base, axis=b.axis, size=b.size)
            if _concrete(a) and a.value.ndim == 0 and float(a.value) == 1.0 and b.tag in PROBABILITY:
                return Fact("one_minus", source=b)
        if name == "add":
            if b.tag == "lse" or a.tag == "lse":  # logsumexp(x - m) + m
                return a if a.tag == "lse" else b
            if a.tag == "logits" or b.tag == "logits":  # + bias
                return Fact("logits")
            if b.tag == "exp" and _concrete(a) and b.source is not None and b.source.tag == "neg":
                return Fact("one_plus_exp_neg", source=b.source.source)
            if a.tag == "exp" and _concrete(b) and a.source is not None and a.source.tag == "neg":
                return Fact("one_plus_exp_neg", source=a.source.source)
        if name == "div":
            if a.tag == "exp" and b.tag == "sumexp" and b.source is not None and b.source.source is a.source:
                return Fact("softmax", source=a.source, axis=b.axis, size=b.size)
            if b.tag == "one_plus_exp_neg" and _concrete(a) and a.value.ndim == 0:  # 1 / (1 + exp(-z))
                self.sigmoid_applied(eqn, b.source)
                return Fact("sigmoid")
        return UNKNOWN


def _small(value) -> bool:
    return np.size(value) <= _MAX_EVAL_ELEMENTS


def _concrete_leaf(leaf) -> np.ndarray | None:
    if isinstance(leaf, jax.core.Tracer):
        return None
    try:
        return np.asarray(leaf)
    except Exception:
        return None


def check(fn: Callable, *args, results=None, **kwargs) -> list[Finding]:
    """The documents' output-layer mistakes in `fn(*args, **kwargs)`, found in its traced program.

    `fn` is anything `jax.make_jaxpr` traces: a loss function, a whole train step (Flax NNX or
    Linen model call + optax loss + update), plain jax.numpy. Give real example arguments (a batch
    with its targets): whether targets are one-hot, multi-label or unscaled is read from their
    values. Nothing is compiled or run; with tracers as arguments (inside `jax.jit`) only the rules
    that need no values apply.

    Returns:
      the findings, errors first; empty when nothing is wrong.
    """
    closed = jax.make_jaxpr(fn)(*args, **kwargs)
    leaves = jax.tree.leaves((args, kwargs))
    in_facts = []
    for leaf in leaves:
        value = _concrete_leaf(leaf)
        in_facts.append(Fact(value=value) if value is not None and _small(value) else UNKNOWN)
    if len(in_facts) != len(closed.jaxpr.invars):  # static or non-array leaves: values cannot be matched
        in_facts = [UNKNOWN] * len(closed.jaxpr.invars)
    interpreter = _Interpreter()
    interpreter.sub_jaxpr(closed, in_facts)
    documents = rules.load_documents(results)
    found = [rules.finding(rule, documents, detail, where) for rule, (detail, where) in interpreter.hits.items()]
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
