"""The names behind the codes a case carries: its four grid areas and its department.

Staff and public views show the same places and the same department; both read them here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from intake.schemas import AreaRef, DepartmentRef
from urbangrid.core.grids import area_names
from urbangrid.core.tables import Case, Department


@dataclass(frozen=True)
class CaseRefs:
    district: AreaRef | None
    street: AreaRef | None
    community: AreaRef | None
    cell: AreaRef | None
    department: DepartmentRef | None


def case_refs(session: Session, case: Case) -> CaseRefs:
    """Codes with their names, in the grid version the case was placed in."""
    codes = [case.l1_code, case.l2_code, case.l3_code, case.l4_code]
    names = area_names(session, case.grid_version_id, codes) if case.grid_version_id else {}
    district, street, community, cell = (
        AreaRef(code=c, name=names.get(c, "")) if c else None for c in codes
    )
    department = session.get(Department, case.department_code) if case.department_code else None
    return CaseRefs(
        district=district,
        street=street,
        community=community,
        cell=cell,
        department=DepartmentRef(
            code=department.code, name=department.name, name_en=department.named("en")
        )
        if department
        else None,
    )
