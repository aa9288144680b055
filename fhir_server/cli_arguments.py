"""Types of `fhir-server` arguments: a value out of range is argparse's usage error (exit 2),
not a traceback from deep within the command."""

import argparse

from fhir_server.conformance.registry import is_supported


def resource_type(name: str) -> str:
    if not is_supported(name):
        raise argparse.ArgumentTypeError(f"{name!r} is not a FHIR R4 resource type")
    return name


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return int(text)


def port(text: str) -> int:
    """A TCP port to listen on: 0 (any free one) is no port the base URL could name."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)")
    return int(text)
