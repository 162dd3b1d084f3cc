"""Data loaders of the dashboard, apart from its layout: plain queries, cached briefly."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session, col

from urbangrid.db import get_engine
from urbangrid.tables import Case, Department


def cases_by_department_and_state() -> pd.DataFrame:
    """Open and closed counts per department, for the overview table."""
    with Session(get_engine()) as session:
        rows = session.execute(
            select(col(Case.department_code), col(Department.name), col(Case.state), func.count())
            .join(Department, col(Department.code) == col(Case.department_code), isouter=True)
            .group_by(Case.department_code, Department.name, Case.state)
        ).all()
    frame = pd.DataFrame(rows, columns=["department", "name", "state", "cases"])
    if frame.empty:
        return frame
    return frame.pivot_table(
        index=["department", "name"], columns="state", values="cases", fill_value=0
    ).reset_index()
