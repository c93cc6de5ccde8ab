"""Concrete values of the cheap operations that targets go through, computed with NumPy.

The checker reads targets from their values: one-hot rows, multi-hot rows, class indices,
unscaled regression values. Targets reach the loss through casts, reshapes, one-hot encodings
(`iota == labels`), `jnp.eye(C)[labels]` and `jnp.take` (XLA `gather`), micro-batch slices
(`dynamic_slice`), smoothing (`y * (1 - a) + a / K`) and standardization. Each of those is
evaluated here on the example arguments' values; anything else leaves the value unknown.
Nothing is compiled: JAX's own evaluation would compile one program per operation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

MAX_ELEMENTS = 10_000_000  # concrete values larger than this are not propagated
_MAX_GATHER_ROWS = 100_000  # gather is evaluated one index row at a time


def _broadcast_in_dim(x, shape, broadcast_dimensions, **_):
    expanded = np.reshape(x, [x.shape[broadcast_dimensions.index(d)] if d in broadcast_dimensions else 1
                              for d in range(len(shape))])
    return np.broadcast_to(expanded, shape)


def _iota(dtype, shape, dimension, **_):
    return np.broadcast_to(np.arange(shape[dimension], dtype=dtype).reshape(
        [-1 if d == dimension else 1 for d in range(len(shape))]), shape)


def _reduce(fn):
    return lambda x, axes, **_: fn(x, axis=tuple(axes))


def _div(a, b, **_):
    if np.issubdtype(np.result_type(a, b), np.integer):  # lax.div on integers rounds toward zero
        return (np.trunc(np.true_divide(a, b))).astype(np.result_type(a, b))
    return np.true_divide(a, b)


def _dynamic_slice(x, *starts, slice_sizes, **_):
    """lax.dynamic_slice: start indices clamped so that the slice fits, as XLA does."""
    index = tuple(slice(s, s + n) for s, n in
                  ((int(np.clip(start, 0, dim - size)), size) for start, dim, size in zip(starts, x.shape, slice_sizes)))
    return x[index]


def _dynamic_update_slice(x, update, *starts, **_):
    out = np.array(x)
    clamped = [int(np.clip(s, 0, d - u)) for s, d, u in zip(starts, x.shape, update.shape)]
    out[tuple(slice(s, s + u) for s, u in zip(clamped, update.shape))] = update
    return out


def gather(operand, indices, dimension_numbers, slice_sizes, mode=None, fill_value=None, **_):
    """XLA gather with JAX's conventions (the index vector is the last axis of `indices`).

    Output: the batch axes (indices.shape[:-1]) in order, with the slice's kept axes placed at
    `offset_dims`. Out-of-bounds starts are clamped (clip / promise-in-bounds) or give
    `fill_value` (fill-or-drop, NaN for floats as jnp.take does).
    """
    dn = dimension_numbers
    batch_shape = indices.shape[:-1]
    if int(np.prod(batch_shape)) > _MAX_GATHER_ROWS:
        return None
    collapsed = set(dn.collapsed_slice_dims) | set(getattr(dn, "operand_batching_dims", ()))
    kept = [d for d in range(operand.ndim) if d not in collapsed]
    fill = "FILL" in str(mode).upper()
    if fill_value is None:
        fill_value = np.nan if np.issubdtype(operand.dtype, np.floating) else 0
    rows = np.empty(batch_shape + tuple(slice_sizes[d] for d in kept),
                    np.result_type(operand.dtype, np.asarray(fill_value).dtype) if fill else operand.dtype)
    batching = list(zip(getattr(dn, "operand_batching_dims", ()), getattr(dn, "start_indices_batching_dims", ())))
    for b in np.ndindex(*batch_shape):
        start = [0] * operand.ndim
        for k, d in enumerate(dn.start_index_map):
            start[d] = int(indices[b + (k,)])
        for operand_dim, indices_dim in batching:
            start[operand_dim] = b[indices_dim]
        in_bounds = all(0 <= s <= dim - size for s, dim, size in zip(start, operand.shape, slice_sizes))
        if fill and not in_bounds:
            rows[b] = fill_value
            continue
        start = [int(np.clip(s, 0, dim - size)) for s, dim, size in zip(start, operand.shape, slice_sizes)]
        piece = operand[tuple(slice(s, s + n) for s, n in zip(start, slice_sizes))]
        rows[b] = piece.reshape([slice_sizes[d] for d in kept])
    nb = len(batch_shape)
    return np.moveaxis(rows, list(range(nb, rows.ndim)), list(dn.offset_dims))


def _pad(x, padding_value, padding_config, **_):
    if any(interior for _, _, interior in padding_config) or any(lo < 0 or hi < 0 for lo, hi, _ in padding_config):
        return None
    return np.pad(x, [(lo, hi) for lo, hi, _ in padding_config], constant_values=padding_value)


def _argmax(x, axes, index_dtype, **_):
    return np.argmax(x, axis=axes[0]).astype(np.dtype(index_dtype))


def _sigmoid(x, **_):
    return 1 / (1 + np.exp(-x))


NUMPY: dict[str, Callable] = {
    "convert_element_type": lambda x, new_dtype, **_: x.astype(np.dtype(new_dtype)),
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": lambda x, new_sizes, **_: np.reshape(x, new_sizes),
    "squeeze": lambda x, dimensions, **_: np.squeeze(x, tuple(dimensions)),
    "expand_dims": lambda x, dimensions, **_: np.expand_dims(x, tuple(dimensions)),
    "transpose": lambda x, permutation, **_: np.transpose(x, permutation),
    "rev": lambda x, dimensions, **_: np.flip(x, tuple(dimensions)),
    "iota": _iota,
    "copy": lambda x, **_: x, "copy_p": lambda x, **_: x, "stop_gradient": lambda x, **_: x,
    "reduce_precision": lambda x, **_: x, "optimization_barrier": lambda *xs, **_: xs[0] if len(xs) == 1 else None,
    "eq": lambda a, b, **_: np.equal(a, b), "ne": lambda a, b, **_: np.not_equal(a, b),
    "lt": lambda a, b, **_: np.less(a, b), "le": lambda a, b, **_: np.less_equal(a, b),
    "gt": lambda a, b, **_: np.greater(a, b), "ge": lambda a, b, **_: np.greater_equal(a, b),
    "and": lambda a, b, **_: np.logical_and(a, b) if a.dtype == bool else np.bitwise_and(a, b),
    "or": lambda a, b, **_: np.logical_or(a, b) if a.dtype == bool else np.bitwise_or(a, b),
    "not": lambda x, **_: np.logical_not(x) if x.dtype == bool else np.invert(x),
    "add": lambda a, b, **_: np.add(a, b), "add_any": lambda a, b, **_: np.add(a, b),
    "sub": lambda a, b, **_: np.subtract(a, b), "mul": lambda a, b, **_: np.multiply(a, b),
    "div": _div, "rem": lambda a, b, **_: np.fmod(a, b), "pow": lambda a, b, **_: np.power(a, b),
    "neg": lambda x, **_: np.negative(x), "abs": lambda x, **_: np.abs(x), "sign": lambda x, **_: np.sign(x),
    "floor": lambda x, **_: np.floor(x), "ceil": lambda x, **_: np.ceil(x),
    "round": lambda x, **_: np.round(x),
    "sqrt": lambda x, **_: np.sqrt(x), "rsqrt": lambda x, **_: 1 / np.sqrt(x),
    "exp": lambda x, **_: np.exp(x), "log": lambda x, **_: np.log(x), "log1p": lambda x, **_: np.log1p(x),
    "tanh": lambda x, **_: np.tanh(x), "logistic": _sigmoid,
    "square": lambda x, **_: np.square(x), "integer_pow": lambda x, y, **_: x ** y,
    "max": lambda a, b, **_: np.maximum(a, b), "min": lambda a, b, **_: np.minimum(a, b),
    "clamp": lambda lo, x, hi, **_: np.clip(x, lo, hi),
    "select_n": lambda which, *cases, **_: np.choose(np.asarray(which, np.int32), cases),
    "reduce_sum": _reduce(np.sum), "reduce_max": _reduce(np.max), "reduce_min": _reduce(np.min),
    "reduce_prod": _reduce(np.prod), "reduce_and": _reduce(np.all), "reduce_or": _reduce(np.any),
    "argmax": _argmax, "cumsum": lambda x, axis, reverse=False, **_: (
        np.flip(np.cumsum(np.flip(x, axis), axis), axis) if reverse else np.cumsum(x, axis)),
    "concatenate": lambda *xs, dimension, **_: np.concatenate(xs, axis=dimension),
    "pad": _pad,
    "slice": lambda x, start_indices, limit_indices, strides=None, **_: x[tuple(
        slice(a, b, s) for a, b, s in zip(start_indices, limit_indices, strides or [1] * x.ndim))],
    "dynamic_slice": _dynamic_slice,
    "dynamic_update_slice": _dynamic_update_slice,
    "gather": gather,
}


def small(value) -> bool:
    return np.size(value) <= MAX_ELEMENTS


def evaluate(eqn, values: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """The NumPy value of each output of `eqn`, or None where it is not known or not cheap."""
    unknown = [None] * len(eqn.outvars)
    fn = NUMPY.get(eqn.primitive.name)
    if fn is None or len(eqn.outvars) != 1 or any(v is None for v in values):
        return unknown
    if any(v.size > MAX_ELEMENTS for v in values):
        return unknown
    try:
        with np.errstate(all="ignore"):
            out = fn(*values, **eqn.params)
    except Exception:  # an operation NumPy spells differently: the value stays unknown
        return unknown
    if out is None:
        return unknown
    out = np.asarray(out)
    return [out if out.shape == tuple(eqn.outvars[0].aval.shape) else None]
