"""Every setting is documented in the example file, and the defaults need no server."""

from __future__ import annotations

from pathlib import Path

from urbangrid.core.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "urbangrid.env.example"


def test_every_setting_is_documented_in_the_example() -> None:
    documented = {
        line.split("=", 1)[0].strip()
        for line in EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line.startswith("URBANGRID_")
    }
    expected = {f"URBANGRID_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'urbangrid.db'}"
    assert settings.embedded_broker
    production = Settings(
        database_url="postgresql+psycopg://u@db/urbangrid", broker_url="amqp://u:p@mq//"
    )
    assert not production.embedded_broker
