"""Tests of search.spec: loading, validation, the schema, the environment checks."""
