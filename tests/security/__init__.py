"""Security tests (a package, so that its module names, e.g. `test_tokens`, do not clash with
the unit tests of `tests/auth`)."""
