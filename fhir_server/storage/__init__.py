"""The only package that talks to MongoDB (DESIGN.md §1)."""
