"""Locust load profiles for OpenAI-compatible inference servers: ``locust -f loadtests``.

Locust loads every ``*.py`` file in this directory whose name does not start with ``_``; the
private helpers are ``_``-prefixed so that they are imported, not loaded as locustfiles.
"""
