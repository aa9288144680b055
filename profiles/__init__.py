"""Conformance resources the server ships as package data: StructureDefinitions,
SearchParameters, CompartmentDefinitions and OperationDefinitions (see `build.py`)."""
