"""Terminology the server ships as package data: CodeSystems, ValueSets, ConceptMaps and
NamingSystems (built by `profiles/build.py`)."""
