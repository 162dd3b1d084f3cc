"""Staff sign in to the dashboard here: a plain form, a token from the staff API, a cookie.

Streamlit has no password sign-in of its own and cannot set a cookie from a page (its pages talk
over a websocket), so the dashboard's server (``dashboard.server``) mounts these few routes next
to the pages. The form posts the name and password here; we ask the staff API for a token (the
same accounts and the same check as every API client) and keep it in an HttpOnly, SameSite=Lax
cookie on the dashboard's own address, so no script on a page can read it. Signing out revokes
the token at the API and clears the cookie.
"""

from __future__ import annotations

import contextlib
import html
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from dashboard.i18n import t
from dashboard.staff_client import StaffApiRefused, StaffApiUnavailable, StaffClient, login
from dashboard.viewer import COOKIE
from urbangrid.core.settings import get_settings

_PAGE = """<!doctype html>
<html lang="{html_lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
 body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;background:#f4f6f8;margin:0}}
 main{{max-width:22rem;margin:12vh auto;background:#fff;padding:1.5rem;border-radius:.6rem;
      box-shadow:0 1px 4px #0002}}
 h1{{font-size:1.3rem;margin:0 0 1rem}} label{{display:block;margin:.8rem 0 .3rem}}
 input{{width:100%;box-sizing:border-box;font-size:1.1rem;padding:.6rem;border:1px solid #999;
       border-radius:.4rem}}
 button{{margin-top:1.2rem;width:100%;font-size:1.1rem;padding:.7rem;border:0;border-radius:.4rem;
        background:#0b5cad;color:#fff}}
 .error{{color:#b00020;margin:.8rem 0 0}} nav{{margin-top:1rem;font-size:.9rem}}
</style></head><body><main>
<h1>{title}</h1>{body}
<nav><a href="{other_url}">{other_lang}</a> · <a href="/?lang={lang}">{back}</a></nav>
</main></body></html>"""

_FORM = """<form method="post" action="/staff/signin">
<input type="hidden" name="lang" value="{lang}"><input type="hidden" name="next" value="{next}">
<label for="name">{name_label}</label>
<input id="name" name="name" autocomplete="username" required maxlength="100" value="{name}">
<label for="password">{password_label}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required
 maxlength="200">
<button type="submit">{submit}</button>{error}</form>"""

_SIGNOUT = """<form method="post" action="/staff/signout">
<input type="hidden" name="lang" value="{lang}"><button type="submit">{submit}</button></form>"""

WORDS = {
    "name": ("工作人员账号", "Staff account name"),
    "password": ("密码", "Password"),
    "wrong": ("账号或密码不正确。", "Wrong name or password."),
    "away": (
        "工作人员接口暂不可用，请稍后再试。",
        "The staff API is not answering; try again soon.",
    ),
    "throttled": (
        "登录尝试次数过多，请 {wait} 秒后再试。",
        "Too many sign-in attempts; try again in {wait} s.",
    ),
    "back": ("返回仪表盘", "Back to the dashboard"),
    "foreign": ("请从本系统的登录页提交。", "Sign in from this dashboard's own page."),
}


def _word(key: str, lang: str) -> str:
    zh, en = WORDS[key]
    return en if lang == "en" else zh


def _lang(value: Any) -> str:
    return "en" if value == "en" else "zh"


def safe_next(value: Any) -> str:
    """Where to go after signing in: a path on this dashboard only, never another site.

    >>> safe_next("/queue?lang=en"), safe_next("https://evil.example/"), safe_next("//evil")
    ('/queue?lang=en', '/', '/')
    >>> safe_next("/\\\\evil.example"), safe_next(None)
    ('/', '/')
    """
    text = str(value or "")
    parts = urlsplit(text)
    if not text.startswith("/") or text.startswith(("//", "/\\")) or parts.scheme or parts.netloc:
        return "/"
    return text


def in_language(next_url: str, lang: str) -> str:
    """``next_url`` in the language the person signed in with, unless it names one itself.

    The pages take their language from the address only, so without this someone who signed in
    on the English form would land on Chinese pages.

    >>> in_language("/", "en"), in_language("/queue?period=90d", "en")
    ('/?lang=en', '/queue?period=90d&lang=en')
    >>> in_language("/queue?lang=zh", "en"), in_language("/", "zh")
    ('/queue?lang=zh', '/?lang=zh')
    """
    parts = urlsplit(next_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "lang" for key, _ in query):
        return next_url
    return urlunsplit(parts._replace(query=urlencode([*query, ("lang", lang)])))


def _page(lang: str, title: str, body: str, *, path: str, status: int = 200) -> HTMLResponse:
    other = "zh" if lang == "en" else "en"
    return HTMLResponse(
        _PAGE.format(
            html_lang="en" if lang == "en" else "zh-CN",
            title=html.escape(title),
            body=body,
            lang=lang,
            other_url=f"{path}?lang={other}",
            other_lang="中文" if other == "zh" else "English",
            back=html.escape(_word("back", lang)),
        ),
        status_code=status,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


def _form(lang: str, *, next_url: str = "/", name: str = "", error: str = "") -> str:
    return _FORM.format(
        lang=lang,
        next=html.escape(next_url, quote=True),
        name=html.escape(name, quote=True),
        name_label=html.escape(_word("name", lang)),
        password_label=html.escape(_word("password", lang)),
        submit=html.escape(t("signin", lang)),
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
    )


def _same_origin(request: Request) -> bool:
    """A form posted from this dashboard's own page (browsers send Origin on every POST)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # no Origin: a non-browser client; "null": a sandboxed frame
    return urlsplit(origin).netloc == request.headers.get("host", "")


def signin_page(request: Request) -> Response:
    lang = _lang(request.query_params.get("lang"))
    next_url = safe_next(request.query_params.get("next"))
    return _page(lang, t("signin", lang), _form(lang, next_url=next_url), path="/staff/signin")


async def signin(request: Request) -> Response:
    form = await request.form()
    lang = _lang(form.get("lang"))
    next_url = safe_next(form.get("next"))
    name = str(form.get("name") or "").strip()[:100]
    password = str(form.get("password") or "")[:200]

    def again(error: str, status: int) -> Response:
        body = _form(lang, next_url=next_url, name=name, error=error)
        return _page(lang, t("signin", lang), body, path="/staff/signin", status=status)

    if not _same_origin(request):
        return again(_word("foreign", lang), 403)
    if not name or not password:
        return again(_word("wrong", lang), 422)
    settings = get_settings()
    try:
        # The staff API checks the password (scrypt); a worker thread keeps the server free.
        from starlette.concurrency import run_in_threadpool

        browser = request.client.host if request.client else None
        token, ttl = await run_in_threadpool(
            lambda: login(settings.staff_api_url, name, password, client_address=browser)
        )
    except StaffApiRefused as refused:
        if refused.status == 429:
            # Throttled, not wrong: "wrong password" here would send them to try again at once.
            wait = refused.retry_after or 60
            throttled = again(_word("throttled", lang).format(wait=wait), 429)
            throttled.headers["Retry-After"] = str(wait)
            return throttled
        return again(_word("wrong", lang), 401 if refused.status in (401, 422) else 400)
    except StaffApiUnavailable:
        return again(_word("away", lang), 503)
    answer = RedirectResponse(in_language(next_url, lang), status_code=303)
    answer.set_cookie(
        COOKIE,
        token,
        max_age=ttl or None,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return answer


def signout_page(request: Request) -> Response:
    lang = _lang(request.query_params.get("lang"))
    body = _SIGNOUT.format(lang=lang, submit=html.escape(t("signout", lang)))
    return _page(lang, t("signout", lang), body, path="/staff/signout")


async def signout(request: Request) -> Response:
    form = await request.form()
    lang = _lang(form.get("lang"))
    if not _same_origin(request):
        return _page(lang, t("signout", lang), "", path="/staff/signout", status=403)
    token = request.cookies.get(COOKIE)
    if token:
        from starlette.concurrency import run_in_threadpool

        client = StaffClient(get_settings().staff_api_url, token)
        # The cookie goes anyway; if the API is away the token lapses at its expiry.
        with contextlib.suppress(StaffApiRefused, StaffApiUnavailable):
            await run_in_threadpool(client.logout)
    answer = RedirectResponse(f"/?lang={lang}", status_code=303)
    answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    return answer


ROUTES = [
    Route("/staff/signin", signin_page, methods=["GET"]),
    Route("/staff/signin", signin, methods=["POST"]),
    Route("/staff/signout", signout_page, methods=["GET"]),
    Route("/staff/signout", signout, methods=["POST"]),
]
