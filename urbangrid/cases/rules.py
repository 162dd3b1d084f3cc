"""The routing rule table kept in the database: loaded from a rules file, dumped back to one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from urbangrid.cases.seed import upsert_department
from urbangrid.core.tables import Category, Department, RoutingRule
from urbangrid.domain.routing import RuleBook, parse_rules


def check_rules(session: Session, document: dict[str, Any]) -> RuleBook:
    """Parse ``document`` against the categories and departments in the database."""
    categories = set(session.exec(select(Category.code)))
    departments = set(session.exec(select(Department.code)))
    return parse_rules(document, categories=categories, departments=departments)


def load_rules(session: Session, book: RuleBook) -> int:
    """Replace the whole rule table with ``book`` (and add its departments), atomically.

    Cases keep the rule id they were routed by in their events; a rule that changes only
    affects cases routed from now on.
    """
    for department in book.departments:
        upsert_department(
            session,
            department.code,
            department.name,
            department.kind,
            department.grid_code,
            name_en=department.name_en,
        )
    session.flush()
    session.execute(delete(RoutingRule))
    for rule in book.rules:
        session.add(
            RoutingRule(
                category_code=rule.category_code,
                scope_code=rule.scope_code,
                department_code=rule.department_code,
                priority=rule.priority,
            )
        )
    session.commit()
    return len(book.rules)


def dump_rules(session: Session) -> dict[str, Any]:
    """The rule table as a rules document (``urbangrid rules load`` reads it back)."""
    rows = session.exec(
        select(RoutingRule).order_by(
            col(RoutingRule.category_code), col(RoutingRule.scope_code), col(RoutingRule.id)
        )
    )
    return {
        "rules": [
            {
                "category": r.category_code,
                "scope": r.scope_code,
                "department": r.department_code,
                "priority": r.priority,
            }
            for r in rows
        ]
    }
