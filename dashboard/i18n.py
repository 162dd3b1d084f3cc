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
    "cases_unit": (" 件", " cases"),
    "no_figure": ("无数据", "no figure"),
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
    # queue and the case page
    "read_only": (
        "只读：工作人员接口不可用，暂不能办理。",
        "Read-only: the staff API is not available; acting on cases waits until it is back.",
    ),
    "id": ("案件号", "Case"),
    "clock": ("时限状态", "Clock"),
    "hours_left": ("剩余小时", "Hours left"),
    "deadline": ("本环节时限", "Stage deadline"),
    "state": ("状态", "State"),
    "escalation_level": ("督办级别", "Escalation"),
    "case_deadline": ("结案时限", "Case deadline"),
    "stage": ("环节", "Stage"),
    "queue_shown": (
        "显示 {shown} / 共 {total} 件，最紧急的在前",
        "{shown} of {total}, worst first",
    ),
    "queue_more": ("显示更多", "Show more"),
    "queue_show": ("显示", "Show"),
    "open_case": ("打开案件", "Open case"),
    "no_cases": ("没有待办案件。", "No open cases here."),
    "case_missing": ("请从工作队列打开一个案件。", "Open a case from the work queue."),
    "back_to_queue": ("返回工作队列", "Back to the work queue"),
    "location": ("位置", "Location"),
    "description": ("描述", "Description"),
    "before_photos": ("处置前照片", "Before"),
    "after_photos": ("处置后照片", "After"),
    "no_photos": ("暂无照片", "No photo yet"),
    "photo_pending": ("照片处理中", "photo being processed"),
    "photo_hidden": ("已对公众隐藏", "hidden from the public"),
    "moderate_photo": ("公开前处理此照片", "What the public sees of this photo"),
    "public_sees": (
        "公众看到的（人脸、车牌已模糊）",
        "What the public sees (faces, plates blurred)",
    ),
    "public_sees_nothing": ("公众看不到此照片。", "The public does not see this photo."),
    "public_copy_unavailable": ("暂时无法取得公开版本。", "The public copy cannot be fetched now."),
    "moderation_reason": ("原因（仅内部可见）", "Reason (staff only)"),
    "hide_photo": ("对公众隐藏", "Hide from the public"),
    "show_photo": ("重新公开", "Publish again"),
    "cover_part": ("遮挡漏模糊的部分", "Cover a part the blurring missed"),
    "cover_across": ("横向范围（%）", "Across (%)"),
    "cover_down": ("纵向范围（%）", "Down (%)"),
    "cover_preview": (
        "红色区域将在公开版本中被遮挡",
        "The red area will be covered on the public copy",
    ),
    "cover_is_final": (
        "遮挡可在下方撤除；原图仍保留给有权限的工作人员。",
        "A cover can be taken off again below; staff in scope keep the photo as taken.",
    ),
    "covers_on_photo": ("公开版本上的遮挡", "Covered on the public copy"),
    "cover_at": ("遮挡 {n}：横向 {across}，纵向 {down}", "Cover {n}: across {across}, down {down}"),
    "uncover_photo": ("撤除此遮挡", "Take this cover off"),
    "cover_photo": ("遮挡此区域", "Cover this area"),
    "cover_choose_area": (
        "请用两个滑块选出要遮挡的区域。",
        "Choose the area to cover with the two sliders.",
    ),
    "photo_hide_done": ("照片已对公众隐藏", "The photo is hidden from the public"),
    "photo_show_done": ("照片已重新公开", "The photo is public again"),
    "photo_redact_done": ("已在公开版本中遮挡", "The area is covered on the public copy"),
    "photo_uncover_done": (
        "已撤除遮挡；自动模糊的人脸和车牌仍保持模糊",
        "The cover is off; faces and plates the detector found stay blurred",
    ),
    "photo_unchanged": (
        "未作改动：照片本已如此",
        "Nothing changed: the photo already was so",
    ),
    "timeline": ("办理过程", "Timeline"),
    "when": ("时间", "When"),
    "who": ("办理人", "By"),
    "step": ("操作", "Step"),
    "change": ("状态变化", "State change"),
    "actions_open": ("可办理的操作", "What you can do now"),
    "no_actions": ("当前没有您可办理的操作。", "Nothing for you to do on this case now."),
    "reason": ("理由", "Reason"),
    "by": ("延期时长", "Extension"),
    "by_help": (
        "如 1wd（1个工作日）、4wh（4个工作小时）",
        "e.g. 1wd (one working day), 4wh (four working hours)",
    ),
    "to_department": ("派往部门", "To department"),
    "suggested": ("建议", "suggested"),
    "new_category": ("新类别", "New category"),
    "after_photo": ("处置后照片（必填）", "After-photo (required)"),
    "check_photo": ("核查照片（可选）", "Photo of the check (optional)"),
    "public_note": ("对市民公开的说明（可选）", "Note for the resident (optional, public)"),
    "note": ("内部备注（仅工作人员可见）", "Internal note (staff only)"),
    "act": ("办理", "Act"),
    "action": ("操作", "Action"),
    "submit": ("提交", "Submit"),
    "done": ("已办理", "Done"),
    "needs": ("请填写：", "Please fill in: "),
    "left": ("剩余 {t}", "{t} left"),
    "late_by": ("已超期 {t}", "overdue by {t}"),
    "closed_late_by": ("超期 {t} 结案", "closed {t} late"),
    "due_at": ("时限 {at}", "due {at}"),
    "paused_since": ("挂账中，时钟暂停", "suspended: the clock is paused"),
    "days": ("{n}天", "{n} d"),
    "hours": ("{n}小时", "{n} h"),
    "minutes": ("{n}分钟", "{n} min"),
    "case_due": ("全案结案时限 {at}", "Whole case due {at}"),
    "near_boundary": ("靠近街道边界", "near a street boundary"),
    "near_boundary_of": (
        "靠近街道边界：可能属于{street}",
        "Near a street boundary: may belong to {street}",
    ),
    "near_boundary_page": (
        "上报位置靠近{own}与{street}的边界：请确认所属街道，或移交{street}。",
        "Reported near the boundary of {own} and {street}: confirm the street, or move the "
        "case to {street}.",
    ),
    "queue_near_boundary": ("靠近边界", "Near a boundary"),
    "photo_joined": ("来自并入本案的报告 #{id}", "From report #{id}, which joined this case"),
    "escalated": ("已督办 {n} 级", "escalated {n}"),
    # signing in
    "signin": ("工作人员登录", "Staff sign-in"),
    "signout": ("退出登录", "Sign out"),
    "signed_in_as": ("已登录", "Signed in"),
    "signin_needed": (
        "请工作人员登录后查看。本系统未向公众公开数据。",
        "Sign in as staff to see the dashboard. The city publishes no figures here.",
    ),
    "published": ("公开数据", "Published figures"),
    "published_note": (
        "本市公开的季度排名和全市汇总数据。工作人员请登录查看更多。",
        "The quarterly ranking and the city's totals, as the city publishes them. Staff: sign in "
        "for more.",
    ),
    "city_totals": ("全市汇总", "City totals"),
    "scope_city": ("全市", "whole city"),
    "unranked": ("不参与排名", "unranked"),
    "unranked_note": (
        "案件数少于 {n} 件的部门不参与排名。",
        "Departments with fewer than {n} cases in the quarter are listed unranked.",
    ),
    "empty": ("本期没有数据。", "Nothing in this period."),
    # clock states
    "clock_overdue": ("已超期", "Overdue"),
    "clock_at_risk": ("即将超期", "At risk"),
    "clock_on_track": ("正常", "On track"),
    "clock_paused": ("暂停(挂账)", "Paused"),
    "clock_no_deadline": ("无时限", "No deadline"),
    "clock_closed_on_time": ("按期结案", "Closed on time"),
    "clock_closed_late": ("超期结案", "Closed late"),
    # case states
    "state_REPORTED": ("待受理", "Reported"),
    "state_VERIFYING": ("核实中", "Being verified"),
    "state_FILED": ("已立案", "Filed"),
    "state_DISPATCHED": ("已派遣", "Dispatched"),
    "state_IN_PROGRESS": ("处置中", "In progress"),
    "state_RETURNED": ("已回退", "Returned"),
    "state_SUSPENDED": ("挂账", "Suspended"),
    "state_HANDLED": ("已处置", "Handled"),
    "state_CHECKED": ("已核查", "Checked"),
    "state_CLOSED": ("已结案", "Closed"),
    "state_VOID": ("已作废", "Void"),
    # actions of the closed loop
    "action_submit": ("上报", "Report"),
    "action_request_verification": ("请求核实", "Ask to verify"),
    "action_verify": ("核实属实", "Verified"),
    "action_not_found": ("核实不属实", "Not found on site"),
    "action_file": ("立案", "File"),
    "action_void": ("作废", "Void"),
    "action_dispatch": ("派遣", "Dispatch"),
    "action_accept": ("接收", "Accept"),
    "action_return": ("回退", "Return"),
    "action_redispatch": ("重新派遣", "Dispatch again"),
    "action_reject_return": ("驳回回退", "Refuse the return"),
    "action_request_extension": ("申请延期", "Ask for more time"),
    "action_extend": ("批准延期", "Grant more time"),
    "action_deny_extension": ("不批准延期", "Refuse more time"),
    "action_request_suspension": ("申请挂账", "Ask to suspend"),
    "action_suspend": ("批准挂账", "Suspend"),
    "action_deny_suspension": ("不批准挂账", "Refuse to suspend"),
    "action_resume": ("恢复办理", "Resume"),
    "action_handle": ("处置完毕", "Report handled"),
    "action_check_fail": ("核查不通过", "Check failed"),
    "action_check_pass": ("核查通过", "Check passed"),
    "action_close": ("结案", "Close"),
    "action_reopen": ("重新办理", "Reopen"),
    "action_escalate": ("督办", "Escalate"),
    "action_recategorize": ("更正类别", "Change category"),
    "action_reroute": ("改派", "Move to another department"),
    "action_confirm_street": ("确认所属街道", "Confirm the street"),
    "action_move_to_neighbour": ("移交相邻街道", "Move to the neighbouring street"),
    "action_comment": ("备注", "Comment"),
    "action_rate": ("市民评价", "Resident's rating"),
    "action_hide_photo": ("隐藏照片", "Hide a photo"),
    "action_redact_photo": ("遮挡照片", "Redact a photo"),
    "action_overdue": ("超期", "Went overdue"),
    "action_warn": ("即将超期提醒", "At-risk warning"),
    # events that annotate a case without moving it (urbangrid.cases.lifecycle.NOTES)
    "action_duplicate": ("同一问题再次被上报", "Reported again by another resident"),
    "action_photo": ("市民补充照片", "Resident added photos"),
    "action_reopen_request": ("市民申请重新处理", "Resident asked to reopen"),
    "action_locate": ("已定位，待核实", "Located, waiting for verification"),
    "action_flag": ("标记", "Flagged"),
    "action_moderate": ("照片审核", "Photo moderated"),
    # stages
    "stage_file": ("立案", "Filing"),
    "stage_dispatch": ("派遣", "Dispatch"),
    "stage_handle": ("处置", "Handling"),
    "stage_check": ("核查结案", "Check and close"),
    "stage_case": ("全案", "Whole case"),
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


def label(prefix: str, code: str | None, lang: str) -> str:
    """A state, action, stage or role in words; a code not in the table keeps its own words.

    >>> label("state", "IN_PROGRESS", "zh"), label("action", "check_pass", "en")
    ('处置中', 'Check passed')
    >>> label("action", "some_new_step", "en"), label("state", None, "en")
    ('Some new step', '—')
    """
    if not code:
        return "—"
    key = f"{prefix}_{code}"
    if key in LABELS:
        return t(key, lang)
    return code.replace("_", " ").capitalize()


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
