"""The walk over a traced program's equations: every sub-jaxpr (jit, custom_jvp / custom_vjp,
remat), every loop body and branch, with concrete values where the example arguments give them.

- Loop bodies (`scan`, `fori_loop`, `while_loop`) are walked once, on the first iteration's
  values: the loop's constants and initial carry, the first slice of what a scan iterates over.
  A micro-batch `dynamic_slice(x, i * size)` at i = 0 thus has its targets' values.
- `cond` / `switch` branches are all walked; with a known index, the outputs are the taken branch's.
- Values only ever stop-gradient'ed (a distillation teacher's log-probabilities) and values computed
  from stop-gradient'ed ones are constants, not the model's output: no rule fires on them.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import numpy as np
from jax.extend import core as jcore

from jaxact.advisor import detect, values
from jaxact.advisor.patterns import UNKNOWN, Fact, Observation, Recognizer

_LIBRARY_DIRS = tuple(os.path.dirname(os.path.dirname(m.__file__)) + os.sep for m in (jax, np))
_PACKAGE_DIR = os.path.dirname(os.path.dirname(__file__)) + os.sep
_SUB_JAXPR_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


def where(eqn) -> str:
    """file:line (function) of the innermost frame of the user's code that made `eqn`."""
    try:
        frames = eqn.source_info.traceback.frames
    except AttributeError:
        return ""
    for frame in frames:
        name = frame.file_name
        if ("site-packages" in name or "dist-packages" in name or name.startswith(_LIBRARY_DIRS)
                or name.startswith(_PACKAGE_DIR) or name.startswith("<frozen")):
            continue
        return f"{os.path.basename(name)}:{frame.line_num} ({frame.function_name})"
    return ""


def constant_only(jaxpr, constant_outs: frozenset[int] = frozenset()) -> set:
    """The variables of `jaxpr` whose every use ends in a stop_gradient (or in an output the caller
    knows to be such): a teacher's log(softmax(t)) computed and then stop-gradient'ed."""
    uses: dict[Any, list] = {}
    for eqn in jaxpr.eqns:
        for v in eqn.invars:
            if not isinstance(v, jcore.Literal):
                uses.setdefault(v, []).append(eqn)
    for i, v in enumerate(jaxpr.outvars):
        if not isinstance(v, jcore.Literal):
            uses.setdefault(v, []).append(i in constant_outs)
    out: set = set()
    constant_eqns: set[int] = set()
    for eqn in reversed(jaxpr.eqns):
        if eqn.primitive.name == "stop_gradient" or (eqn.outvars and all(v in out for v in eqn.outvars)):
            constant_eqns.add(id(eqn))
        for v in eqn.invars:
            if isinstance(v, jcore.Literal) or v in out:
                continue
            used = uses.get(v)
            if used and all((use is True) or (not isinstance(use, bool) and id(use) in constant_eqns) for use in used):
                out.add(v)
    return out


class Walker:
    """Walks a jaxpr, feeding each equation to the recognizers and their observations to the rules."""

    def __init__(self):
        self.hits: dict[str, tuple[detect.Hit, str]] = {}  # rule -> (hit, where), first found
        self.calls: list = []  # the call equations being walked, outermost first
        self.recognizer = Recognizer(self.observe)
        self._constant_vars: set = set()

    def observe(self, observation: Observation) -> None:
        if observation.operand.constant or all(v in self._constant_vars for v in observation.eqn.outvars):
            return
        for hit in detect.hits(observation):
            if hit.rule not in self.hits:
                # A cached library function's inner equations may carry no frame of the user's code; its call does.
                at = next((w for e in [observation.eqn, *reversed(self.calls)] if (w := where(e))), "")
                self.hits[hit.rule] = (hit, at)

    def run(self, jaxpr, consts: list, in_facts: list[Fact], constant_outs: frozenset[int] = frozenset()) -> list[Fact]:
        env: dict[Any, Fact] = {}
        outer_constant = self._constant_vars
        constant_vars = constant_only(jaxpr, constant_outs)

        def read(v) -> Fact:
            if isinstance(v, jcore.Literal):
                return Fact(value=np.asarray(v.val), constant=True)
            return env.get(v, UNKNOWN)

        for var, value in zip(jaxpr.constvars, consts):
            env[var] = Fact(value=concrete_array(value), data=True)
        for var, fact in zip(jaxpr.invars, in_facts):
            env[var] = fact
        try:
            for eqn in jaxpr.eqns:
                self._constant_vars = constant_vars
                facts = [read(v) for v in eqn.invars]
                outs = self.equation(eqn, facts, constant_vars)
                for var, fact in zip(eqn.outvars, outs):
                    env[var] = fact
        finally:
            self._constant_vars = outer_constant
        return [read(v) for v in jaxpr.outvars]

    def sub_jaxpr(self, closed, facts: list[Fact], constant_outs: frozenset[int] = frozenset()) -> list[Fact]:
        if isinstance(closed, jcore.ClosedJaxpr):
            return self.run(closed.jaxpr, closed.consts, facts, constant_outs)
        return self.run(closed, [], facts, constant_outs)

    def equation(self, eqn, facts: list[Fact], constant_vars: set) -> list[Fact]:
        name = eqn.primitive.name
        if name in ("scan", "while", "cond"):
            outs = self.control_flow(eqn, facts)
        elif (inner := next((eqn.params[k] for k in _SUB_JAXPR_PARAMS if k in eqn.params), None)) is not None:
            constant_outs = frozenset(i for i, v in enumerate(eqn.outvars) if v in constant_vars)
            self.calls.append(eqn)
            try:
                outs = self.sub_jaxpr(inner, facts, constant_outs)
            finally:
                self.calls.pop()
            outs = self.recognizer.named_call(eqn, facts, outs)
        elif name == "stop_gradient":
            outs = [dataclasses.replace(facts[0], constant=True)]
        else:
            computed = values.evaluate(eqn, [f.value for f in facts])
            tags = self.recognizer.apply(eqn, facts)
            data = any(f.data for f in facts)
            outs = [dataclasses.replace(tags[i] if i < len(tags) else UNKNOWN, value=computed[i], data=data)
                    for i in range(len(eqn.outvars))]
        constant = bool(facts) and all(f.constant for f in facts)
        outs = list(outs) + [UNKNOWN] * (len(eqn.outvars) - len(outs))
        return [dataclasses.replace(o, constant=True) if constant and not o.constant else o for o in outs]

    def control_flow(self, eqn, facts: list[Fact]) -> list[Fact]:
        """Loops walked once on their first iteration's values; every branch of a cond."""
        params = eqn.params
        name = eqn.primitive.name
        if name == "cond":
            index = facts[0].value
            outs = [self.sub_jaxpr(branch, facts[1:]) for branch in params["branches"]]
            if index is not None and index.size == 1:
                taken = int(np.clip(int(index), 0, len(outs) - 1))
                return outs[taken]
            return [next((dataclasses.replace(o[i], value=None) for o in outs if o[i].tag), UNKNOWN)
                    for i in range(len(eqn.outvars))]
        if name == "while":
            body_consts, cond_consts = params["body_nconsts"], params["cond_nconsts"]
            carry = facts[cond_consts + body_consts:]
            self.sub_jaxpr(params["cond_jaxpr"], facts[:cond_consts] + carry)
            outs = self.sub_jaxpr(params["body_jaxpr"], facts[cond_consts:cond_consts + body_consts] + carry)
            return [dataclasses.replace(o, value=None) for o in outs]
        try:
            num_consts, num_carry = _scan_counts(params, len(facts))
        except (KeyError, ValueError, TypeError, AttributeError):  # a layout this JAX spells otherwise: no values
            outs = self.sub_jaxpr(params["jaxpr"], [dataclasses.replace(f, value=None) for f in facts])
            return [dataclasses.replace(o, value=None) for o in outs]
        reverse = params.get("reverse", False)
        first = [dataclasses.replace(f, value=(f.value[-1 if reverse else 0] if f.value is not None and f.value.ndim else None))
                 for f in facts[num_consts + num_carry:]]
        outs = self.sub_jaxpr(params["jaxpr"], facts[:num_consts + num_carry] + first)
        return [dataclasses.replace(o, value=None) for o in outs]


def _scan_counts(params, n_inputs: int) -> tuple[int, int]:
    """(constants, carry) among a scan's inputs: named parameters in older JAX, the flat-tree
    layout `ft_in` = (consts, carry, xs) in newer."""
    if "num_consts" in params:
        return params["num_consts"], params["num_carry"]
    consts, carry, _ = (list(part) for part in params["ft_in"].update(list(range(n_inputs))).unpack())
    return len(consts), len(carry)


def concrete_array(value) -> np.ndarray | None:
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        array = np.asarray(value)
    except Exception:  # key arrays and other extended dtypes have no NumPy value
        return None
    if array.dtype == object or not values.small(array):
        return None
    return array

