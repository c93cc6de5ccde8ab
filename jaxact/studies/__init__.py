"""Declarative study tables and the runners the experiments' entrypoints call."""
