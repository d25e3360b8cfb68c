"""Shared test setup: real hubs come from the ``hubfixtures`` plugin (tests/support)."""

pytest_plugins = ["hubfixtures"]
