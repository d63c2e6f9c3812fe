"""The reliability suite: hostile clients, failing dependencies, restarts, long runs.

Everything runs on loopback against the real server, bounded in time and count; see
``_budget.py`` for the short (CI) and long (``make reliability``) budgets.
"""
