"""HTTP: the only package that knows FastAPI and turns errors into OperationOutcome."""
