"""Tests of the areion-request-id example plugin (a package, so its conftest is ``tests.conftest``,
not a top-level ``conftest`` module that could shadow another test folder's)."""
