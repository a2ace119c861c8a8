"""A Postman collection and environment generated from `specs/`, so they cannot drift from it.

Regenerate with `python -m postman.generate`; the committed JSON files are its output.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["COLLECTION_FILE", "ENVIRONMENT_FILE", "PACKAGE_DIR"]

PACKAGE_DIR = Path(__file__).resolve().parent
COLLECTION_FILE = "inferno.postman_collection.json"
ENVIRONMENT_FILE = "inferno.postman_environment.json"
