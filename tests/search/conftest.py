"""Fixtures of the search tests that talk to MongoDB directly, below the HTTP API."""

import asyncio

import pytest


@pytest.fixture(scope="module")
def loop():
    """One event loop per module: the async MongoDB client is bound to the loop it ran on."""
    running = asyncio.new_event_loop()
    yield running
    running.close()
