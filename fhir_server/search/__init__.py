"""Search: parse query parameters into typed criteria, compile them to MongoDB filters, and
extract the per-write search index (DESIGN.md §3). Pure: no I/O."""
