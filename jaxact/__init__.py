"""jaxact: what wrong output activations and losses do, measured in JAX; and a tool that says so.

`jaxact.advise(task, final_activation, loss)` checks a combination before training.
"""

from jaxact.advise import advise

__all__ = ["advise"]
