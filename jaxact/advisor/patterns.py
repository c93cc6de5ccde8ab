"""Pattern recognizers: what one equation does to the squashing of its operands.

Each value of a traced program carries a `Fact`. A recognizer reads an equation and the facts of
its operands and returns the facts of its outputs, and reports `Observation`s: a sigmoid or a
softmax applied to something, a log taken of something, a model output meeting concrete targets
in a loss. The rules (`detect.py`) decide which observations are mistakes; the walk (`walk.py`)
feeds the equations in order.

Recognized however they are spelled:
- softmax: exp(x - max) / sum, jax.nn.softmax, and a normalization p / p.sum(-1) (Keras'
  categorical cross-entropy on probabilities, which renormalizes, clips and takes the log);
- log-softmax / logsumexp: x - log(sum(exp(x))), optax's integer-label cross-entropy;
- sigmoid: `logistic`, 1 / (1 + exp(-x)), log_sigmoid / softplus (optax's sigmoid BCE),
  log1p(exp(-z));
- clipping (clip, max / min with a constant, + eps) keeps what a value is.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

PROBABILITY = ("softmax", "sigmoid")
SOFTMAX_FAMILY = ("softmax", "log_softmax", "log_of_softmax")
SIGMOID_FAMILY = ("sigmoid", "log_sigmoid", "log_of_sigmoid")
OUTPUT_TAGS = SOFTMAX_FAMILY + SIGMOID_FAMILY + ("relu", "tanh", "logits")
UNBOUNDED = ("logits", "relu")
NOT_PROBABILITY = UNBOUNDED + ("tanh",)  # a log of these is not a log-probability
_OFFSET_KEEPS = PROBABILITY + NOT_PROBABILITY + SOFTMAX_FAMILY + ("one_minus", "normalized")
_EPSILON = 1e-3  # adding a constant this small (p + eps before a log) keeps what p is


@dataclasses.dataclass(frozen=True)
class Fact:
    """What the checker knows about one value.

    tag: the last squashing ("softmax", "log_softmax", "log_of_softmax", "sigmoid", "log_sigmoid",
      "log_of_sigmoid", "relu", "tanh", "logits" for a dense/conv output, "normalized" for an unbounded
      output divided by its sum, "one_minus" for 1 - p), or a partial pattern of one ("exp",
      "sumexp", "sum_of", "max_of", "shifted", "neg", "one_plus_exp_neg", "lse") whose `source` is
      the fact of the value the pattern started from.
    axis/size: the reduced axes of a softmax-like pattern and their total length.
    value: the concrete value, if known (see values.py).
    history: the squashings a model output went through, the model's own final activation first
      (e.g. ("softmax", "sigmoid") for sigmoid BCE on softmax outputs).
    clipped: clipped or offset by an epsilon (a log of it cannot be -inf).
    constant: computed only from stop_gradient'ed values and literals: not the model's output.
    data: computed from the arguments or closed-over arrays (a batch's targets can be), not only
      from literals (a causal mask built with tril(ones) is no target).
    """

    tag: str | None = None
    source: "Fact | None" = None
    axis: tuple[int, ...] = ()
    size: int | None = None
    value: np.ndarray | None = None
    history: tuple[str, ...] = ()
    clipped: bool = False
    constant: bool = False
    data: bool = False


UNKNOWN = Fact()


def concrete(fact: Fact) -> bool:
    return fact.value is not None


def _scalar(fact: Fact) -> float | None:
    if concrete(fact) and fact.value.size == 1:
        return float(np.asarray(fact.value).reshape(()))
    return None


@dataclasses.dataclass(frozen=True)
class Observation:
    """kind: "sigmoid" (a sigmoid applied to `operand`), "softmax" (a softmax / log-softmax /
    logsumexp / normalization over axes of total length `size`), "log" (a log of `operand`),
    "meets" (a model output `operand` and concrete `targets` combined by `op`, "mul" or "sub")."""

    kind: str
    operand: Fact
    eqn: object
    size: int | None = None
    normalization: bool = False
    targets: Fact | None = None
    op: str = ""
    shapes: tuple = ()


Observe = Callable[[Observation], None]


def _squashed(x: Fact, tag: str, squashing: str, **fields) -> Fact:
    """The fact of `squashing` applied to the value of fact `x`."""
    return Fact(tag, history=x.history + (squashing,), **fields)


class Recognizer:
    """Turns an equation's operand facts into output facts, reporting observations to `observe`."""

    def __init__(self, observe: Observe):
        self.observe = observe

    def named_call(self, eqn, facts: list[Fact], outs: list[Fact]) -> list[Fact]:
        """Library functions known by name whose inside does not show what they compute."""
        name = eqn.params.get("name", "")
        if name in ("log_sigmoid", "softplus") and facts:
            x = facts[0]
            negated = x.tag == "neg"
            argument = x.source if negated else x
            self.observe(Observation("sigmoid", argument or UNKNOWN, eqn))
            # log_sigmoid(-z) and softplus(z) are log(1 - sigmoid(z)) (up to sign): the "no" term of a BCE
            positive = (name == "log_sigmoid") != negated
            fact = _squashed(argument or UNKNOWN, "log_sigmoid" if positive else "one_minus", "sigmoid")
            return [fact] + outs[1:]
        if name == "relu" and facts:
            return [_squashed(facts[0], "relu", "relu")] + outs[1:]
        return outs

    def apply(self, eqn, facts: list[Fact]) -> list[Fact]:
        """The facts of `eqn`'s outputs, without values (the walk fills those in)."""
        name = eqn.primitive.name
        x = facts[0] if facts else UNKNOWN
        if name in _KEEPS_TAG:
            return [dataclasses.replace(x, value=None)] if x.tag else [UNKNOWN]
        if name == "clamp":  # clamp(lo, x, hi): clipping keeps what x is
            return [dataclasses.replace(facts[1], value=None, clipped=True)] if facts[1].tag else [UNKNOWN]
        if name == "logistic":
            self.observe(Observation("sigmoid", x, eqn))
            return [_squashed(x, "sigmoid", "sigmoid")]
        if name == "tanh" and not concrete(x):
            return [_squashed(x, "tanh", "tanh")]
        if name in ("dot_general", "conv_general_dilated"):
            return [Fact("logits")]
        if name == "reduce_max":
            return [Fact("max_of", source=x)]
        if name == "neg":
            return [Fact("neg", source=x, history=x.history)] if not concrete(x) else [UNKNOWN]
        if name == "exp":
            inner = x.source if x.tag == "shifted" else x
            return [Fact("exp", source=inner)]
        if name == "reduce_sum":
            return [self.reduce_sum(eqn, x)]
        if name == "abs" and x.tag in ("sumexp",) + PROBABILITY:  # |p| = p
            return [dataclasses.replace(x, value=None)]
        if name == "log":
            return [self.log(eqn, x)]
        if name == "log1p":
            if x.tag == "exp" and x.source is not None and x.source.tag == "neg":  # log(1 + exp(-z)) = -log sigmoid(z)
                z = x.source.source or UNKNOWN
                self.observe(Observation("sigmoid", z, eqn))
                return [_squashed(z, "log_sigmoid", "sigmoid")]
            if x.tag == "neg" and x.source is not None:  # log(1 - p)
                self.observe(Observation("log", Fact("one_minus", source=x.source, history=x.history), eqn))
                return [Fact("one_minus", source=x.source, history=x.history)]
            return [UNKNOWN]
        if name in ("max", "min"):
            return [self.max_min(eqn, facts)]
        if name == "select_n":
            tagged = [f for f in facts[1:] if f.tag]
            return [dataclasses.replace(tagged[0], value=None)] if len(tagged) == 1 else [UNKNOWN]
        if name in ("add", "sub", "mul", "div"):
            return [self.binary(eqn, facts)]
        return [UNKNOWN]

    def reduce_sum(self, eqn, x: Fact) -> Fact:
        if not x.tag or concrete(x):
            return UNKNOWN
        axes = tuple(eqn.params["axes"])
        size = int(np.prod([eqn.invars[0].aval.shape[a] for a in axes]))
        if x.tag == "exp":  # observed where it becomes a softmax or a logsumexp (a VAE's sum of exp(logvar) is neither)
            if x.source is not None and x.source.tag == "neg":
                return UNKNOWN
            return Fact("sumexp", source=x, axis=axes, size=size)
        if x.tag in PROBABILITY + NOT_PROBABILITY:
            return Fact("sum_of", source=x, axis=axes, size=size)
        return UNKNOWN

    def log(self, eqn, x: Fact) -> Fact:
        if x.tag == "sumexp":
            source = x.source.source if x.source else None
            self.observe(Observation("softmax", source or UNKNOWN, eqn, size=x.size))
            return Fact("lse", source=source, axis=x.axis, size=x.size)
        self.observe(Observation("log", x, eqn))
        if x.tag == "softmax":
            return dataclasses.replace(x, tag="log_of_softmax", value=None)
        if x.tag == "sigmoid":
            return dataclasses.replace(x, tag="log_of_sigmoid", value=None)
        return UNKNOWN

    def max_min(self, eqn, facts: list[Fact]) -> Fact:
        a, b = facts
        tagged, other = (a, b) if a.tag else (b, a)
        if tagged.tag == "max_of":
            return tagged
        bound = _scalar(other)
        if bound is None or not tagged.tag:
            return UNKNOWN
        if eqn.primitive.name == "max" and bound == 0.0 and tagged.tag not in PROBABILITY:
            return _squashed(tagged, "relu", "relu")
        return dataclasses.replace(tagged, value=None, clipped=True)  # clipping keeps what a value is

    def binary(self, eqn, facts: list[Fact]) -> Fact:
        name = eqn.primitive.name
        a, b = facts
        shapes = [tuple(v.aval.shape) for v in eqn.invars]
        for i, (output, targets) in enumerate(((a, b), (b, a))):
            if name in ("mul", "sub") and concrete(targets) and not concrete(output) and output.tag in OUTPUT_TAGS:
                self.observe(Observation("meets", output, eqn, targets=targets, op=name,
                                         shapes=(shapes[i], shapes[1 - i])))
        if name in ("add", "sub"):
            for tagged, other in ((a, b), (b, a)):
                offset = _scalar(other)
                if tagged.tag in _OFFSET_KEEPS and offset is not None and 0 < abs(offset) <= _EPSILON:
                    return dataclasses.replace(tagged, value=None, clipped=True)  # p + eps before a log
        if name == "sub":
            if b.tag == "max_of" and b.source is not None:
                return Fact("shifted", source=a)
            if b.tag == "lse" and not concrete(a):  # x - logsumexp(x): a log-softmax
                base = a.source if a.tag == "shifted" else a
                return _squashed(base, "log_softmax", "softmax", axis=b.axis, size=b.size)
            if _scalar(a) == 1.0 and b.tag in PROBABILITY:
                return Fact("one_minus", source=b, history=b.history)
        if name == "add":
            if b.tag == "lse" or a.tag == "lse":  # logsumexp(x - m) + m
                return a if a.tag == "lse" else b
            if a.tag == "logits" or b.tag == "logits":  # + bias
                return Fact("logits")
            for e, c in ((b, a), (a, b)):
                if e.tag == "exp" and concrete(c) and e.source is not None and e.source.tag == "neg":
                    return Fact("one_plus_exp_neg", source=e.source.source)
        if name == "mul" and (a.tag == "logits" or b.tag == "logits") and (_scalar(a) is not None or _scalar(b) is not None):
            return Fact("logits")  # a temperature or a scale: still logits
        if name == "div":
            return self.div(eqn, a, b)
        return UNKNOWN

    def div(self, eqn, a: Fact, b: Fact) -> Fact:
        if a.tag == "exp" and b.tag == "sumexp" and b.source is not None and b.source.source is a.source:
            self.observe(Observation("softmax", a.source or UNKNOWN, eqn, size=b.size))
            return _squashed(a.source or UNKNOWN, "softmax", "softmax", axis=b.axis, size=b.size)
        if b.tag == "one_plus_exp_neg" and _scalar(a) is not None:  # 1 / (1 + exp(-z))
            z = b.source or UNKNOWN
            self.observe(Observation("sigmoid", z, eqn))
            return _squashed(z, "sigmoid", "sigmoid")
        if b.tag == "sum_of" and b.source is a:  # p / p.sum(axis): a normalization into a distribution
            self.observe(Observation("softmax", a, eqn, size=b.size, normalization=True))
            if a.tag == "softmax":
                return dataclasses.replace(a, value=None)
            if a.tag == "sigmoid":
                return _squashed(a, "softmax", "softmax", axis=b.axis, size=b.size)
            return Fact("normalized", source=a, axis=b.axis, size=b.size, history=a.history)
        if a.tag == "logits" and _scalar(b) is not None:  # z / temperature
            return Fact("logits")
        return UNKNOWN


# Operations that keep what squashed a value (its tag).
_KEEPS_TAG = {"convert_element_type", "broadcast_in_dim", "reshape", "squeeze", "expand_dims", "transpose",
              "copy", "copy_p", "slice", "dynamic_slice", "gather", "reduce_precision",
              "optimization_barrier", "concatenate", "pad", "rev"}
