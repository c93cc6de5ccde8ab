"""jaxact: what wrong output activations and losses do, measured in JAX; and tools that say so.

- `jaxact.advise(task, final_activation, loss)` checks a named combination before training;
- `jaxact.check(train_step, params, batch)` finds the same mistakes in your own JAX code;
- `@jaxact.checked` does that on a train step's first call.
"""

from jaxact.advisor import Finding, MisuseError, MisuseWarning, advise, check, checked

__all__ = ["Finding", "MisuseError", "MisuseWarning", "advise", "check", "checked"]
