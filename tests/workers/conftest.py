"""The intake fixtures, for worker tests that make their cases through the API."""

from tests.intake.conftest import client, make_client

__all__ = ["client", "make_client"]
