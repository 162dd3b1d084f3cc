"""What the city publishes, for anyone: its totals and the departments' quarterly ranking.

Aggregates only, never a case and never a person's figures (``URBANGRID_PUBLIC_DASHBOARD=on``).
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard import data
from dashboard.filters import language, link
from dashboard.i18n import t, title
from dashboard.show import count, percent, ranking
from urbangrid.columns import utcnow
from urbangrid.domain.metrics import quarter_of

lang = language()
st.title(title("published", lang))
st.caption(t("published_note", lang))
today = utcnow().astimezone(ZoneInfo(data.settings().city_timezone)).date()
this = quarter_of(today)
quarter_start = today.replace(day=1, month=3 * ((today.month - 1) // 3) + 1)
last = quarter_of(quarter_start - timedelta(days=1))
quarter = st.selectbox(t("period", lang), [this, last], key="published_quarter")
view = data.published(quarter, lang)

st.subheader(f"{t('city_totals', lang)} · {quarter}")
total = view.total
row = st.columns(4)
row[0].metric(t("received", lang), count(total.get("received")))
row[1].metric(t("closed", lang), count(total.get("closed")))
row[2].metric(t("closure_rate", lang), percent(total.get("closure_rate")))
row[3].metric(t("on_time_closure_rate", lang), percent(total.get("on_time_closure_rate")))
row = st.columns(4)
row[0].metric(t("satisfaction_rate", lang), percent(total.get("satisfaction_rate")))
row[1].metric(t("open_now", lang), count(view.open_now["open"]))
row[2].metric(t("overdue_now", lang), count(view.open_now["overdue"]))
row[3].metric(t("at_risk", lang), count(view.open_now["at_risk"]))

st.subheader(f"{t('ranking', lang)} · {quarter}")
ranking(view.ranking, lang)
st.caption(t("unranked_note", lang).format(n=data.settings().ranking_min_cases))
link(f"/staff/signin?lang={lang}", t("signin", lang) + " →")
