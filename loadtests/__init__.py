"""Locust load profiles for OpenAI-compatible inference servers.

    locust -f loadtests --host http://127.0.0.1:8000/v1     # from a checkout
    python -m loadtests --host http://127.0.0.1:8000/v1     # wherever the package is installed

Locust loads every ``*.py`` file of this folder whose name does not start with ``_`` as a
locustfile: those are the two entry files (``users.py``, ``shape.py``); everything else is a
private module of this package, imported with relative imports.
"""
