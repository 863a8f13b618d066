"""The console's gate: sessions, CSRF, roles, the sign-in limit, audit, health and metrics.

A real embedded Redis and the real app on a local port (aiohttp's test server).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from redis.backoff import NoBackoff
from redis.retry import Retry
from yarl import URL

from bot import keys, metrics
from bot.cli import main
from bot.paths import DATA_DIR_ENV
from bot.web.users import Role, UserStore
from tests.console import (
    ADMIN,
    OFFICER,
    PASSWORD,
    ClientFactory,
    console_settings,
    csrf_token,
    hidden_field,
    login,
    signed_in,
)
from tests.console import client as client
from tests.console import make_client as make_client
from tests.console import redis_dir as redis_dir
from tests.console import users as users


@pytest.fixture
async def anonymous(make_client: ClientFactory, users: UserStore) -> TestClient:
    return await make_client()


def _set_cookie(response: ClientResponse, name: str) -> str:
    headers = [h for h in response.headers.getall("Set-Cookie", []) if h.startswith(name + "=")]
    assert len(headers) == 1, response.headers.getall("Set-Cookie", [])
    return headers[0]


def _audit_actions(client: redis.Redis) -> list[tuple[str, str, str]]:
    entries = client.xrange(keys.CONSOLE_AUDIT)
    return [
        (f[b"actor"].decode(), f[b"action"].decode(), f[b"target"].decode()) for _, f in entries
    ]


# --- without a session ------------------------------------------------------------------------


def _guarded_routes(app: web.Application) -> list[tuple[str, str]]:
    public = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz"), ("GET", "/metrics")}
    public.add(("GET", "/language"))  # the language switch, on the sign-in page too
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method == "HEAD" or path == "/static" or (route.method, path) in public:
            continue
        found.append((route.method, re.sub(r"\{[^}]+\}", "x", path)))
    return found


async def test_every_route_without_a_session_redirects_or_answers_401(
    anonymous: TestClient,
) -> None:
    routes = _guarded_routes(anonymous.server.app)
    assert ("GET", "/") in routes and ("POST", "/users") in routes and len(routes) >= 10
    for method, path in [*routes, ("GET", "/no-such-page"), ("GET", "/api/no-such-call")]:
        response = await anonymous.request(method, path, allow_redirects=False)
        body = await response.text()
        if path.startswith("/api/"):
            assert response.status == 401, (method, path)
            assert (await response.json()) == {"error": "sign in first"}
        else:
            assert response.status == 302, (method, path)
            assert response.headers["Location"].startswith("/login"), (method, path)
            assert "alice" not in body
    metrics_response = await anonymous.get("/metrics")
    assert metrics_response.status == 401
    assert "leaksentry_scans" not in await metrics_response.text()


async def test_a_page_redirect_remembers_where_to_go_after_sign_in(anonymous: TestClient) -> None:
    response = await anonymous.get("/audit?before=1-0", allow_redirects=False)
    location = URL(response.headers["Location"])
    assert location.path == "/login" and location.query["next"] == "/audit?before=1-0"
    form = await anonymous.get(response.headers["Location"])
    assert hidden_field(await form.text(), "next") == "/audit?before=1-0"


async def test_an_invented_session_cookie_is_not_a_session(anonymous: TestClient) -> None:
    anonymous.session.cookie_jar.update_cookies({"ls_session": "made-up"})
    assert (await anonymous.get("/", allow_redirects=False)).status == 302
    assert (await anonymous.get("/api/session")).status == 401


# --- signing in ---------------------------------------------------------------------------------


async def test_sign_in_sets_a_fresh_httponly_lax_cookie_and_audits(
    anonymous: TestClient, client: redis.Redis
) -> None:
    form = await anonymous.get("/login")
    login_cookie = _set_cookie(form, "ls_login")
    assert "HttpOnly" in login_cookie and "SameSite=Strict" in login_cookie
    response = await login(anonymous, ADMIN)
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = _set_cookie(response, "ls_session")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP, no trusted proxy
    first = anonymous.session.cookie_jar.filter_cookies(anonymous.make_url("/"))["ls_session"]
    assert len(first.value) >= 40
    assert client.hgetall(keys.CONSOLE_SESSION + first.value) == {}  # only its hash is stored

    page = await anonymous.get("/")
    assert page.status == 200 and "Dashboard" in await page.text()
    assert (ADMIN, "login", "console") in _audit_actions(client)

    # Signing in while a session cookie is present gives a new id and ends the old one.
    anonymous.session.cookie_jar.clear()
    token = hidden_field(await (await anonymous.get("/login")).text(), "csrf_token")
    anonymous.session.cookie_jar.update_cookies({"ls_session": first.value})
    form = {"csrf_token": token, "username": ADMIN, "password": PASSWORD}
    assert (await anonymous.post("/login", data=form, allow_redirects=False)).status == 303
    second = anonymous.session.cookie_jar.filter_cookies(anonymous.make_url("/"))["ls_session"]
    assert second.value != first.value
    anonymous.session.cookie_jar.clear()
    anonymous.session.cookie_jar.update_cookies({"ls_session": first.value})
    assert (await anonymous.get("/", allow_redirects=False)).status == 302


async def test_secure_cookie_over_tls_only_from_a_trusted_proxy(
    make_client: ClientFactory, users: UserStore
) -> None:
    https = {"X-Forwarded-Proto": "https"}
    untrusted = await make_client()
    response = await login(untrusted, ADMIN, **https)
    assert "Secure" not in _set_cookie(response, "ls_session")

    trusted = await make_client(console_settings(trusted_proxy=True))
    form = await trusted.get("/login", headers=https)
    assert "; Secure" in _set_cookie(form, "ls_login")
    token = hidden_field(await form.text(), "csrf_token")
    # The browser is on https; this test client is not, so it sends the Secure cookie by hand.
    response = await trusted.post(
        "/login",
        data={"csrf_token": token, "username": ADMIN, "password": PASSWORD},
        headers={**https, "Cookie": f"ls_login={token}"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert "; Secure" in _set_cookie(response, "ls_session")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("name", [OFFICER, "nobody", "x" * 300])
async def test_wrong_password_or_unknown_user_gets_one_answer(
    anonymous: TestClient, client: redis.Redis, name: str
) -> None:
    response = await login(anonymous, name, "wrong password!")
    assert response.status == 401
    assert "Wrong user name or password." in await response.text()
    assert "ls_session" not in anonymous.session.cookie_jar.filter_cookies(anonymous.make_url("/"))
    assert ("login_failed", "console") in [(a, t) for _, a, t in _audit_actions(client)]


async def test_sign_in_form_needs_its_token(anonymous: TestClient) -> None:
    await anonymous.get("/login")
    for token in ("", "forged"):
        response = await anonymous.post(
            "/login",
            data={"csrf_token": token, "username": ADMIN, "password": PASSWORD},
            allow_redirects=False,
        )
        assert response.status == 403
        assert "ls_session" not in response.cookies


REDIRECT_TARGETS = [
    ("/audit", "/audit"),
    ("/incidents?page=2", "/incidents?page=2"),
    ("//evil.example", "/"),
    ("/\\evil.example", "/"),
    ("\\\\evil.example", "/"),
    ("/\t/evil.example/x", "/"),
    ("/%09/evil.example/x", "/"),
    ("/%2F%2Fevil.example", "/"),
    ("/%5Cevil.example", "/"),
    ("/\n/evil.example", "/"),
    ("https://evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("evil.example", "/"),
    ("", "/"),
]


async def test_after_sign_in_only_local_paths(anonymous: TestClient) -> None:
    for target, expected in REDIRECT_TARGETS:
        anonymous.session.cookie_jar.clear()
        form = await anonymous.get("/login")
        response = await anonymous.post(
            "/login",
            data={
                "csrf_token": hidden_field(await form.text(), "csrf_token"),
                "username": ADMIN,
                "password": PASSWORD,
                "next": target,
            },
            allow_redirects=False,
        )
        assert response.headers["Location"] == expected, target


async def test_signed_in_sign_in_page_redirects_to_local_paths_only(
    make_client: ClientFactory, users: UserStore
) -> None:
    http = await signed_in(make_client, ADMIN)
    for target, expected in REDIRECT_TARGETS:
        raw = "/login?next=" + quote(target, safe="/%")  # %09 and %2F travel as typed
        response = await http.get(URL(raw, encoded=True), allow_redirects=False)
        assert response.status == 302, target
        assert response.headers["Location"] == expected, target
        switch = "/language?lang=zh_CN&next=" + quote(target, safe="/%")
        response = await http.get(URL(switch, encoded=True), allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == expected, target


async def test_failed_sign_ins_slow_an_address_down_without_checking_the_password(
    make_client: ClientFactory, users: UserStore, client: redis.Redis
) -> None:
    http = await make_client(
        console_settings(
            trusted_proxy=True, login_free_failures=3, login_max_delay_per_ip_seconds=600
        )
    )
    guesser = {"X-Forwarded-For": "203.0.113.9"}
    for name in ("carol", "dave", "erin"):
        assert (await login(http, name, "guess guess", **guesser)).status == 401
    blocked = await login(http, ADMIN, **guesser)  # even the right password, now
    assert blocked.status == 429 and blocked.headers["Retry-After"] == "1"
    assert "Too many failed sign-ins" in await blocked.text()
    assert "Try again in 1 second." in await blocked.text()
    assert (ADMIN, "login_blocked", "console") in _audit_actions(client)
    assert (await login(http, ADMIN, **{"X-Forwarded-For": "198.51.100.7"})).status == 303
    http.session.cookie_jar.clear()
    # The delay doubles at every further failure (the wait key's life is the delay).
    for failures in (4, 5, 6):
        client.delete(keys.CONSOLE_LOGIN_FAILURES + "ip:203.0.113.9:wait")
        name = f"nobody{failures}"
        assert (await login(http, name, "guess guess", **guesser)).status == 401
        retry = int((await login(http, name, "guess guess", **guesser)).headers["Retry-After"])
        assert retry == 2 ** (failures - 3)
    assert int(client.get(keys.CONSOLE_LOGIN_FAILURES + "ip:203.0.113.9") or 0) == 6


async def test_a_throttled_attempt_is_refused_before_the_password_is_checked(
    make_client: ClientFactory, users: UserStore
) -> None:
    http = await make_client(console_settings(trusted_proxy=True, login_free_failures=1))
    guesser = {"X-Forwarded-For": "203.0.113.9"}
    assert (await login(http, OFFICER, "guess guess", **guesser)).status == 401
    users.remove(ADMIN)  # the password check would now answer 401; the throttle answers first
    assert (await login(http, ADMIN, "guess guess", **guesser)).status == 429


async def test_hammering_a_name_does_not_keep_its_owner_out(
    make_client: ClientFactory, users: UserStore
) -> None:
    http = await make_client(
        console_settings(
            trusted_proxy=True, login_free_failures=2, login_max_delay_per_user_seconds=30
        )
    )
    owner = {"X-Forwarded-For": "198.51.100.7"}
    assert (await login(http, ADMIN, **owner)).status == 303  # the owner's usual address
    http.session.cookie_jar.clear()
    for address in range(2, 40):  # many addresses guessing alice, 1 guess each
        hammer = {"X-Forwarded-For": f"203.0.113.{address}"}
        assert (await login(http, ADMIN, "guess guess", **hammer)).status in (401, 429)
    stranger = await login(http, ADMIN, **{"X-Forwarded-For": "192.0.2.1"})
    assert stranger.status == 429  # the name's delay holds for new addresses,
    assert int(stranger.headers["Retry-After"]) <= 30  # but briefly,
    assert (await login(http, ADMIN, **owner)).status == 303  # and not for the owner's


# --- signed in ---------------------------------------------------------------------------------


async def test_state_changes_need_the_session_csrf_token(
    make_client: ClientFactory, users: UserStore
) -> None:
    admin = await signed_in(make_client, ADMIN)
    token = await csrf_token(admin)
    form = {"name": "carol", "role": "officer", "password": PASSWORD}
    assert (await admin.post("/users", data=form, allow_redirects=False)).status == 403
    wrong = {**form, "csrf_token": "x" * len(token)}
    assert (await admin.post("/users", data=wrong, allow_redirects=False)).status == 403
    # The token of another session is no good either.
    other = await csrf_token(await signed_in(make_client, ADMIN))
    assert other != token
    stolen = {**form, "csrf_token": other}
    assert (await admin.post("/users", data=stolen, allow_redirects=False)).status == 403
    assert users.get("carol") is None

    ok = await admin.post("/users", data={**form, "csrf_token": token}, allow_redirects=False)
    assert ok.status == 303
    assert users.get("carol") is not None
    by_header = await admin.post(
        "/users/carol/remove", headers={"X-CSRF-Token": token}, allow_redirects=False
    )
    assert by_header.status == 303
    assert users.get("carol") is None


async def test_logout_ends_the_session_on_the_server(
    make_client: ClientFactory, users: UserStore, client: redis.Redis
) -> None:
    http = await signed_in(make_client, OFFICER)
    cookie = http.session.cookie_jar.filter_cookies(http.make_url("/"))["ls_session"].value
    assert (await http.post("/logout", allow_redirects=False)).status == 403  # no token
    response = await http.post(
        "/logout", headers={"X-CSRF-Token": await csrf_token(http)}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/login"
    http.session.cookie_jar.update_cookies({"ls_session": cookie})  # replay the old cookie
    assert (await http.get("/", allow_redirects=False)).status == 302
    assert (OFFICER, "logout", "console") in _audit_actions(client)


async def test_officers_cannot_reach_admin_routes(
    make_client: ClientFactory, users: UserStore
) -> None:
    officer = await signed_in(make_client, OFFICER)
    token = await csrf_token(officer)
    assert (await officer.get("/")).status == 200
    assert (await officer.get("/api/overview")).status == 200
    for path in ("/users", "/audit"):
        assert (await officer.get(path)).status == 403
    denied = await officer.get("/api/users")
    assert denied.status == 403 and (await denied.json())["error"]
    add = {"name": "mallory", "role": "admin", "password": PASSWORD, "csrf_token": token}
    assert (await officer.post("/users", data=add)).status == 403
    assert users.get("mallory") is None
    page = await (await officer.get("/")).text()
    assert 'href="/users"' not in page and 'href="/audit"' not in page

    admin = await signed_in(make_client, ADMIN)
    for path in ("/users", "/audit", "/api/users", "/api/audit"):
        assert (await admin.get(path)).status == 200, path
    assert 'href="/audit"' in await (await admin.get("/")).text()


async def test_removing_a_user_ends_their_sessions(
    make_client: ClientFactory, users: UserStore
) -> None:
    officer = await signed_in(make_client, OFFICER)
    admin = await signed_in(make_client, ADMIN)
    removed = await admin.post(
        f"/users/{OFFICER}/remove",
        headers={"X-CSRF-Token": await csrf_token(admin)},
        allow_redirects=False,
    )
    assert removed.status == 303
    users.add(OFFICER, Role.ADMIN, PASSWORD)  # the same name again is someone new
    assert (await officer.get("/", allow_redirects=False)).status == 302


async def test_admins_cannot_remove_themselves(
    make_client: ClientFactory, users: UserStore
) -> None:
    admin = await signed_in(make_client, ADMIN)
    response = await admin.post(
        f"/users/{ADMIN}/remove", headers={"X-CSRF-Token": await csrf_token(admin)}
    )
    assert response.status == 400
    assert users.get(ADMIN) is not None


async def test_sessions_end_when_idle_and_after_their_maximum_age(
    make_client: ClientFactory, users: UserStore, client: redis.Redis
) -> None:
    http = await make_client(console_settings(session_idle_minutes=30))
    await login(http, OFFICER)
    [key] = client.keys(keys.CONSOLE_SESSION + "*")
    assert 29 * 60 < client.ttl(key) <= 30 * 60
    client.hset(key, "created_at", "0")  # signed in long ago: past session_max_hours
    assert (await http.get("/", allow_redirects=False)).status == 302
    assert client.exists(key) == 0


async def test_security_headers_on_every_answer(
    make_client: ClientFactory, users: UserStore
) -> None:
    http = await signed_in(make_client, ADMIN)
    for path in ("/", "/login", "/static/console.css", "/no-such-page", "/api/session"):
        response = await http.get(path, allow_redirects=False)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Server"] == "leaksentry", path  # no versions to look up
    page = await http.get("/")
    assert page.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in page.headers  # plain HTTP: no promise of TLS


async def test_the_audit_log_records_views_newest_first(
    make_client: ClientFactory, users: UserStore
) -> None:
    anonymous = await make_client()
    await login(anonymous, ADMIN, "not it at all")
    admin = await signed_in(make_client, ADMIN)
    page = await admin.get("/audit")
    assert page.status == 200
    text = await page.text()
    assert "login_failed" in text and "127.0.0.1" in text
    entries = (await (await admin.get("/api/audit")).json())["entries"]
    assert [e["action"] for e in entries] == ["view", "view", "login", "login_failed"]
    assert entries[0]["actor"] == ADMIN and entries[0]["target"] == "audit-log"
    assert entries[3]["actor"] == ADMIN and entries[3]["ip"] == "127.0.0.1"
    older = await admin.get("/api/audit", params={"before": entries[1]["id"]})
    assert (await older.json())["entries"] == entries[2:]
    assert (await admin.get("/api/audit", params={"before": "1; FLUSHALL"})).status == 400


async def test_the_api_describes_itself(make_client: ClientFactory, users: UserStore) -> None:
    officer = await signed_in(make_client, OFFICER)
    document = await (await officer.get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert {"/api/session", "/api/overview", "/api/audit", "/api/users"} <= set(document["paths"])
    session = await (await officer.get("/api/session")).json()
    assert session["user"] == OFFICER and session["role"] == "officer"


# --- health and metrics --------------------------------------------------------------------------


async def test_healthz_reports_redis(
    make_client: ClientFactory, anonymous: TestClient, unused_tcp_port: int
) -> None:
    response = await anonymous.get("/healthz")
    assert response.status == 200 and (await response.json()) == {"status": "ok"}
    nowhere = redis.Redis(port=unused_tcp_port, retry=Retry(NoBackoff(), 0))
    down = await (await make_client(redis_client=nowhere)).get("/healthz")
    assert down.status == 503


async def test_metrics_count_what_every_process_recorded(
    make_client: ClientFactory,
    users: UserStore,
    client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipe = client.pipeline(transaction=True)
    metrics.count_scan(pipe, "critical")
    metrics.count_scan(pipe, "clean")
    metrics.count_scan(pipe, "clean")
    metrics.observe(pipe, metrics.SCAN_SECONDS, 0.8)
    metrics.observe(pipe, metrics.SCAN_SECONDS, 4.0)
    metrics.observe(pipe, metrics.SCAN_SECONDS, 99.0)
    metrics.count_alert_sent(pipe, "direct")
    pipe.execute()
    client.xadd(keys.JOBS_STREAM, {"job": "1"})
    client.xadd(keys.JOBS_STREAM, {"job": "2"})
    client.xgroup_create(keys.JOBS_STREAM, keys.JOBS_GROUP, id="0")
    client.xreadgroup(keys.JOBS_GROUP, "w1", {keys.JOBS_STREAM: ">"}, count=1)

    http = await signed_in(make_client, OFFICER)
    text = await (await http.get("/metrics")).text()
    assert 'leaksentry_scans_total{verdict="clean"} 2.0' in text
    assert 'leaksentry_scans_total{verdict="critical"} 1.0' in text
    assert 'leaksentry_alerts_sent_total{channel="direct"} 1.0' in text
    assert 'leaksentry_scan_duration_seconds_bucket{le="1.0"} 1.0' in text
    assert 'leaksentry_scan_duration_seconds_bucket{le="5.0"} 2.0' in text
    assert 'leaksentry_scan_duration_seconds_bucket{le="+Inf"} 3.0' in text
    assert "leaksentry_scan_duration_seconds_sum 103.8" in text
    assert "leaksentry_queue_depth 2.0" in text  # one waiting, one being scanned
    assert "leaksentry_warning_latency_seconds_count 0.0" in text

    dashboard = await (await http.get("/")).text()
    assert re.search(r'<span class="number">3</span><span class="label">items scanned', dashboard)

    monkeypatch.setenv("LEAKSENTRY_METRICS_TOKEN", "scrape-token-123")
    robot = await make_client()
    ok = await robot.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    assert ok.status == 200 and "leaksentry_queue_depth" in await ok.text()
    bad = await robot.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert bad.status == 401


# --- the users command -------------------------------------------------------------------------


def test_users_command_adds_lists_and_removes(
    client: redis.Redis, redis_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(redis_dir.parent))
    monkeypatch.delenv("REDIS_URL", raising=False)
    runner = CliRunner()
    add = ["users", "add", "Carol", "--role", "admin", "--password-stdin"]
    result = runner.invoke(main, add, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "added admin 'carol'" in result.output
    store = UserStore(client)
    assert store.authenticate("carol", PASSWORD) is not None
    assert store.authenticate("carol", PASSWORD + "x") is None

    again = runner.invoke(main, add, input=PASSWORD + "\n")
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(
        main, ["users", "add", "dan", "--role", "officer", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    prompted = runner.invoke(
        main, ["users", "add", "erin", "--role", "officer"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert prompted.exit_code == 0, prompted.output

    listed = runner.invoke(main, ["users", "list"])
    assert re.search(r"carol\s+admin", listed.output)
    assert re.search(r"erin\s+officer", listed.output)
    assert runner.invoke(main, ["users", "remove", "carol"]).exit_code == 0
    assert store.get("carol") is None
    assert runner.invoke(main, ["users", "remove", "carol"]).exit_code == 1
    actions = [(a, t) for _, a, t in _audit_actions(client)]
    assert actions == [("user_add", "carol"), ("user_add", "erin"), ("user_remove", "carol")]
