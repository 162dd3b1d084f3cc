"""Request dependencies: the session, the settings, the grid and the broker of this process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request
from sqlmodel import Session

from intake.steps import Intake
from urbangrid.core.db import get_engine
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    with Session(get_engine(request.app.state.settings), expire_on_commit=False) as session:
        yield session


def get_grid(request: Request) -> ActiveGrid:
    grid: ActiveGrid = request.app.state.grid
    return grid


def get_celery(request: Request) -> Celery:
    celery: Celery = request.app.state.celery
    return celery


async def get_intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
IntakeDep = Annotated[Intake, Depends(get_intake)]
SessionDep = Annotated[Session, Depends(get_session)]
GridDep = Annotated[ActiveGrid, Depends(get_grid)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
