"""HTTP tests of the signed Provenance of every write (README "Signature contract"): a package,
so that its module names do not clash with the unit tests of `tests/signing`."""
