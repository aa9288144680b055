"""`python -m fhir_server ...`: the `fhir-server` command, where no script is on PATH (a
venv not activated, a container that runs the interpreter)."""

import sys

from fhir_server.cli import main

sys.exit(main())
