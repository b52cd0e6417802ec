"""Tests of the declarative search space (pure Python)."""
