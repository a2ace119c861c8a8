"""Locust entry: the one load shape (`--shape` picks its timeline); see ``loadtests._shape``."""

from loadtests._shape import LLMLoadShape

__all__ = ["LLMLoadShape"]
