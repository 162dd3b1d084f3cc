"""The dashboard's labels in Chinese and English: one table, read by every page."""

from __future__ import annotations

from collections.abc import Iterable

LANGS = ("zh", "en")

LABELS: dict[str, tuple[str, str]] = {
    "app": ("城市网格管理", "urbangrid city grid"),
    # pages
    "overview": ("总览", "Overview"),
    "departments": ("部门考评", "Departments"),
    "map": ("网格地图", "Map"),
    "categories": ("案件类别", "Categories"),
    "queue": ("工作队列", "Work queue"),
    # filters
    "filters": ("筛选", "Filters"),
    "period": ("统计周期", "Period"),
    "custom": ("自定义日期", "Custom dates"),
    "department": ("部门", "Department"),
    "district": ("区", "District"),
    "street": ("街道/镇", "Street / town"),
    "community": ("社区", "Community"),
    "category": ("类别", "Category"),
    "all": ("全部", "All"),
    "language": ("语言 Language", "语言 Language"),
    "share_view": ("链接即当前视图，可直接分享。", "The address bar holds this view: share it."),
    # periods
    "7d": ("近7天", "Last 7 days"),
    "30d": ("近30天", "Last 30 days"),
    "90d": ("近90天", "Last 90 days"),
    "365d": ("近一年", "Last 365 days"),
    # counts
    "key": ("代码", "Code"),
    "name": ("名称", "Name"),
    "received": ("受理数", "Received"),
    "filed": ("立案数", "Filed"),
    "extended": ("延期案件", "Extended"),
    "due": ("应结案数", "Due"),
    "closed": ("结案数", "Closed"),
    "closed_on_time": ("按期结案数", "Closed on time"),
    "overdue": ("超期数", "Overdue"),
    "handling_due": ("应处置数", "Due for handling"),
    "handled_on_time": ("按期处置数", "Handled on time"),
    "handled": ("处置数", "Handled"),
    "reworked": ("返工案件", "Reworked"),
    "reopened": ("重开案件", "Reopened"),
    "handling_timed": ("计时处置数", "Timed handlings"),
    "handling_seconds": ("处置总秒数", "Handling seconds"),
    "dispatches": ("派遣数", "Dispatches"),
    "returns": ("回退数", "Returns"),
    "ratings": ("评价数", "Ratings"),
    "satisfied": ("满意数", "Satisfied"),
    # rates
    "closure_rate": ("结案率", "Closure rate"),
    "on_time_closure_rate": ("按期结案率", "On-time closure rate"),
    "on_time_handling_rate": ("按期处置率", "On-time handling rate"),
    "overdue_rate": ("超期率", "Overdue rate"),
    "extension_rate": ("延期率", "Extension rate"),
    "rework_rate": ("返工率", "Rework rate"),
    "reopen_rate": ("重开率", "Reopen rate"),
    "return_rate": ("回退率", "Return rate"),
    "satisfaction_rate": ("满意率", "Satisfaction rate"),
    "accurate_dispatch_rate": ("准确派遣率", "Accurate dispatch rate"),
    "average_handling_hours": ("平均处置时长(小时)", "Average handling (hours)"),
    "score": ("综合指标值", "Composite score"),
    "grade": ("等级", "Grade"),
    "rank": ("排名", "Rank"),
    "ranked": ("参与排名", "Ranked"),
    # now
    "open": ("在办", "Open"),
    "open_now": ("当前在办", "Open now"),
    "overdue_now": ("当前超期", "Overdue now"),
    "at_risk": ("即将超期", "At risk"),
    "suspended": ("挂账", "Suspended"),
    # overview
    "weekly_trend": ("每周趋势", "Trend by week"),
    "bucket": ("周期", "Period start"),
    "top_departments": ("主要部门", "Main departments"),
    # departments page
    "all_measures": ("各部门考评指标", "Every measure per department"),
    "ranking": ("季度排名", "Quarterly ranking"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "download_xlsx": ("下载 Excel", "Download Excel"),
    "formula": ("综合指标值公式", "Composite score formula"),
    "podium": ("排名前十", "Top ten"),
    "by_role": ("按角色考评", "Evaluation per role"),
    "by_role_note": (
        "各环节按其时限计：立案、派遣、处置、核查结案与全案；计入停止该时钟的角色，未完成的计入责任角色。",
        "Each step against its stage clock (filing, dispatch, handling, check and close, the "
        "whole case), credited to whoever stopped it; steps not yet done to the stage's owner.",
    ),
    "by_staff": ("按人员考评", "Per member of staff"),
    "stage_name": ("环节", "Stage"),
    "role": ("角色", "Role"),
    "actor": ("人员", "Staff"),
    "step_due": ("应办数", "Due"),
    "step_done": ("已办数", "Done"),
    "step_on_time": ("按时数", "On time"),
    "step_overdue": ("超时数", "Overdue"),
    "step_on_time_rate": ("及时率", "On-time rate"),
    "step_overdue_rate": ("超时率", "Overdue rate"),
    "step_average_hours": ("平均用时(小时)", "Average time (hours)"),
    "role_citizen": ("市民", "Citizen"),
    "role_supervisor": ("监督员", "Supervisor"),
    "role_operator": ("受理员", "Intake operator"),
    "role_shift_lead": ("值班长", "Shift lead"),
    "role_dispatcher": ("派遣员", "Dispatcher"),
    "role_department": ("专业部门", "Department"),
    "role_head": ("部门负责人", "Department head"),
    "role_admin": ("管理员", "Administrator"),
    "role_system": ("系统自动", "Automation"),
    "map_departments": ("本区域责任部门", "Departments answering here"),
    "category_departments": ("责任部门", "Departments answering for these cases"),
    "queue_departments": ("各部门待办", "Open cases per department"),
    # map
    "map_level": ("显示层级", "Level shown"),
    "colour_by": ("着色指标", "Colour by"),
    "drill_down": ("下钻到", "Drill down to"),
    "back_up": ("返回上一级", "Up one level"),
    "no_grid": ("尚无网格：请先导入或生成网格。", "No grid yet: import or seed one first."),
    "level_1": ("区", "Districts"),
    "level_2": ("街道/镇", "Streets and towns"),
    "level_3": ("社区", "Communities"),
    "level_4": ("单元网格", "Base cells"),
    # categories
    "by_major": ("按大类", "By major class"),
    "by_minor": ("按小类", "By minor class"),
    "major": ("大类", "Major class"),
    "weekly_by_major": ("各大类每周受理", "Received per week, by major class"),
    "top_per_area": ("各区域高发类别", "Top categories per area"),
    "area": ("区域", "Area"),
    "area_name": ("区域名称", "Area name"),
    "place": ("名次", "Place"),
    "category_name": ("类别名称", "Category name"),
    # queue
    "token": ("工作人员令牌", "Staff token"),
    "token_help": (
        "输入令牌后可通过工作人员接口办理案件；不输入则只读。",
        "With a token you act through the staff API; without one the queue is read-only.",
    ),
    "read_only": (
        "只读：工作人员接口不可用，显示数据库中的队列。",
        "Read-only: the staff API is not available; the queue comes from the database.",
    ),
    "acting_as": ("工作人员接口", "Staff API"),
    "id": ("案件号", "Case"),
    "clock": ("时限状态", "Clock"),
    "hours_left": ("剩余小时", "Hours left"),
    "deadline": ("本环节时限", "Stage deadline"),
    "state": ("状态", "State"),
    "escalation_level": ("督办级别", "Escalation"),
    "case_deadline": ("结案时限", "Case deadline"),
    "stage": ("环节", "Stage"),
    "reason": ("理由(回退、作废、返工等)", "Reason (return, void, failed check…)"),
    "by": ("延期时长(如 1wd、4wh)", "Extension (e.g. 1wd, 4wh)"),
    "to_department": ("派往部门(派遣时)", "To department (dispatch)"),
    "photos": ("照片引用(逗号分隔)", "Photo references (comma-separated)"),
    "act": ("办理", "Act"),
    "action": ("操作", "Action"),
    "note": ("备注", "Note"),
    "submit": ("提交", "Submit"),
    "done": ("已提交", "Done"),
    "empty": ("本期没有数据。", "Nothing in this period."),
    # clock states
    "clock_overdue": ("已超期", "overdue"),
    "clock_at_risk": ("即将超期", "at risk"),
    "clock_on_track": ("正常", "on track"),
    "clock_paused": ("暂停(挂账)", "paused"),
    "clock_no_deadline": ("无时限", "no deadline"),
}


def t(key: str, lang: str) -> str:
    """The label of ``key`` in ``lang`` (zh or en); an unknown key shows as itself.

    >>> t("closure_rate", "zh"), t("closure_rate", "en")
    ('结案率', 'Closure rate')
    """
    pair = LABELS.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def title(key: str, lang: str) -> str:
    """A page title in both languages, the chosen one first, so either reader finds it.

    >>> title("overview", "en")
    'Overview · 总览'
    """
    zh, en = LABELS[key]
    return f"{en} · {zh}" if lang == "en" else f"{zh} · {en}"


def columns(keys: Iterable[str], lang: str) -> dict[str, str]:
    """Column renames for a table shown in ``lang``."""
    return {key: t(key, lang) for key in keys}
