"""Inferno compliance suite: prove an OpenAI-compatible inference server is compatible.

Run it with ``pytest compliance --base-url http://127.0.0.1:8000/v1`` from a checkout, or
``pytest --pyargs compliance --base-url ...`` after installing the package.
"""
