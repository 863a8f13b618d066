"""The audit log's bounds: capped by count and by age, strangers' sign-in failures sampled.

A real embedded Redis; the sign-in failures also through the real app and its form.
"""

from __future__ import annotations

import time

import redis

from bot import keys
from bot.settings import AuditSettings
from bot.web.audit import AuditLog
from bot.web.users import UserStore
from tests.console import ADMIN, ClientFactory, console_settings, login
from tests.console import client as client
from tests.console import make_client as make_client
from tests.console import redis_dir as redis_dir
from tests.console import users as users


def test_the_log_keeps_at_most_max_entries_the_newest(client: redis.Redis) -> None:
    log = AuditLog(client, AuditSettings(max_entries=50))
    for number in range(120):
        log.record("alice", "view", f"/incidents/{number}")
    assert log.count() == 50
    assert [e.target for e in log.newest(2)] == ["/incidents/119", "/incidents/118"]


def test_entries_older_than_max_days_go(client: redis.Redis) -> None:
    old_ms = int((time.time() - 3 * 86400) * 1000)
    client.xadd(keys.CONSOLE_AUDIT, {"time": repr(old_ms / 1000), "action": "view"}, id=old_ms)
    log = AuditLog(client, AuditSettings(max_days=2))
    log.record("alice", "view", "/audit")
    assert [e.target for e in log.newest(10)] == ["/audit"]


def test_two_thousand_failed_sign_ins_are_one_entry_with_their_count(client: redis.Redis) -> None:
    log = AuditLog(client, AuditSettings(sample_window_seconds=3600))
    for _ in range(2000):
        log.record_sampled("admin", "login_failed", "console", ip="203.0.113.9")
    log.record_sampled("admin", "login_failed", "console", ip="198.51.100.7")
    log.record_sampled("bob", "login_failed", "console", ip="203.0.113.9")
    assert log.count() == 3  # one per address and name
    counts = {(e.actor, e.ip): e.count for e in log.search(10, action="login_failed")}
    assert counts == {
        ("admin", "203.0.113.9"): 2000,
        ("admin", "198.51.100.7"): 1,
        ("bob", "203.0.113.9"): 1,
    }


def test_a_new_window_is_a_new_entry(client: redis.Redis) -> None:
    log = AuditLog(client, AuditSettings(sample_window_seconds=0.2))
    log.record_sampled("admin", "login_failed", "console", ip="203.0.113.9")
    while log.count() < 2:  # the next window starts within 0.2 s
        log.record_sampled("admin", "login_failed", "console", ip="203.0.113.9")
    assert sum(e.count for e in log.newest(10)) >= 2


async def test_hammering_the_sign_in_form_leaves_a_few_entries_with_counts(
    make_client: ClientFactory, users: UserStore, client: redis.Redis
) -> None:
    settings = console_settings(login_free_failures=3)
    audit = AuditSettings(sample_window_seconds=3600)
    http = await make_client(settings.model_copy(update={"audit": audit}))
    for _ in range(30):
        assert (await login(http, ADMIN, "guess guess")).status in (401, 429)
    entries = AuditLog(client).newest(50)
    assert {e.action for e in entries} == {"login_blocked", "login_failed"}
    assert len(entries) <= 4  # two, or four where the hour turned meanwhile
    assert sum(e.count for e in entries) == 30
    page = await http.get("/audit")  # not signed in: the page is not for strangers
    assert page.url.path == "/login"
