"""Is my output layer right? Two ways to ask, one table of rules and evidence (`rules.RULES`):

- `advise(task, final_activation, loss)`: a named combination, before you write the code;
- `check(fn, *args)` / `@checked`: your own JAX program (a loss or a whole train step), read
  from its traced jaxpr.
"""

from jaxact.advisor.checker import MisuseError, MisuseWarning, check, checked, classify_targets
from jaxact.advisor.combination import advise, infer_task
from jaxact.advisor.rules import RECOMMENDED_TEXT, RULES, SEVERITIES, Finding, exit_code

__all__ = ["advise", "check", "checked", "classify_targets", "exit_code", "infer_task", "Finding", "MisuseError",
           "MisuseWarning", "RECOMMENDED_TEXT", "RULES", "SEVERITIES"]
