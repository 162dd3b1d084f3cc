"""Fixtures of the dashboard's tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _main_module_restored() -> Iterator[None]:
    """Put back the ``__main__`` module Streamlit's script runner replaces for good.

    ``AppTest`` installs the page script as ``sys.modules["__main__"]`` and never restores it.
    Every process a later test in the same pytest worker starts with multiprocessing's "spawn"
    would then run the dashboard page as its main module first (the embedded broker's test saw
    its consumer die on the page's database query, in CI only, where test files share workers).
    """
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main
