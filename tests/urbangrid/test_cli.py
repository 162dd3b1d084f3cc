"""The ``urbangrid`` command: every listed command loads, and help loads none of them."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from urbangrid.cli import BENCHES, COMMANDS, main

HEAVY = ("sqlalchemy", "sqlmodel", "celery", "shapely", "fastapi", "streamlit", "alembic")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_loads_and_is_listed(name: str) -> None:
    if name == "dashboard":
        pytest.importorskip("streamlit")
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, click.Command)
    assert name in CliRunner().invoke(main, ["--help"]).output


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_every_bench_loads(name: str) -> None:
    bench = main.get_command(click.Context(main), "bench")
    assert isinstance(bench, click.Group)
    assert isinstance(bench.get_command(click.Context(bench), name), click.Command)


def test_help_imports_none_of_the_heavy_libraries() -> None:
    probe = (
        "import sys\n"
        "from urbangrid.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def test_an_unknown_command_is_refused() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2 and "No such command" in result.output
