"""Enrollment and alert recipients, against a real embedded Redis-protocol server."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from bot import keys
from bot.cli import main
from bot.connectors.base import RoomInfo
from bot.groups import EnrollmentRefused, Groups
from bot.settings import BotSettings, load_bot_settings

ROOM = RoomInfo("r1@chatroom", "财务部工作群", "owner", ("wx-admin",), ("owner", "wx-admin", "m"))


@pytest.fixture
def settings() -> BotSettings:
    base = load_bot_settings()
    return base.model_copy(update={"officers": ("org-officer",), "admins": ("it-admin",)})


def test_owner_enrolls_and_the_group_gets_its_owner_and_wechat_admins(
    client: redis.Redis, settings: BotSettings
) -> None:
    groups = Groups(client, settings)
    assert not groups.is_enrolled(ROOM.room_id)
    group = groups.enroll_from_room(ROOM, "owner")
    assert groups.is_enrolled(ROOM.room_id)
    assert group.admins == ("owner", "wx-admin")
    assert group.enrolled_by == "owner"
    assert groups.get(ROOM.room_id) == group
    assert groups.recipients(ROOM.room_id) == (("owner", "wx-admin"), ("org-officer",))


def test_a_member_may_not_enroll_but_a_configured_admin_may(
    client: redis.Redis, settings: BotSettings
) -> None:
    groups = Groups(client, settings)
    with pytest.raises(EnrollmentRefused):
        groups.enroll_from_room(ROOM, "m")
    with pytest.raises(EnrollmentRefused):
        groups.enroll_from_room(ROOM, "wx-admin")  # a WeChat admin is not a configured admin
    assert not groups.is_enrolled(ROOM.room_id)
    assert groups.enroll_from_room(ROOM, "it-admin").enrolled_by == "it-admin"
    assert groups.is_enrolled(ROOM.room_id)


def test_per_group_officers_override_and_survive_re_enrollment(
    client: redis.Redis, settings: BotSettings
) -> None:
    groups = Groups(client, settings)
    groups.enroll(ROOM.room_id, officers=("group-officer",))
    groups.enroll_from_room(ROOM, "owner")
    assert groups.recipients(ROOM.room_id) == (("owner", "wx-admin"), ("group-officer",))
    assert groups.may_act_on("group-officer", ROOM.room_id)
    assert not groups.may_act_on("org-officer", ROOM.room_id)
    assert not groups.may_act_on("m", ROOM.room_id)


def test_cli_enrollment_fills_admins_from_the_room_later(
    client: redis.Redis, settings: BotSettings
) -> None:
    groups = Groups(client, settings)
    groups.enroll(ROOM.room_id)
    assert groups.recipients(ROOM.room_id) == ((), ("org-officer",))
    updated = groups.update_from_room(ROOM)
    assert updated is not None
    assert (updated.topic, updated.admins) == ("财务部工作群", ("owner", "wx-admin"))


def test_the_enrollment_hint_is_given_once_until_enrolled(
    client: redis.Redis, settings: BotSettings
) -> None:
    groups = Groups(client, settings)
    assert groups.mark_told("other@chatroom")
    assert not groups.mark_told("other@chatroom")
    # Of the group nothing readable is stored: not its id.
    stored = [*client.scan_iter(), *client.smembers(keys.GROUPS_TOLD)]
    assert not [item for item in stored if b"other" in item]
    groups.enroll("other@chatroom")
    assert groups.unenroll("other@chatroom")
    assert not groups.unenroll("other@chatroom")
    assert not groups.is_enrolled("other@chatroom")
    assert not groups.mark_told("other@chatroom")  # unenrolled on purpose: no hint again


def test_list_orders_by_enrollment(client: redis.Redis, settings: BotSettings) -> None:
    groups = Groups(client, settings)
    for room in ("b", "a", "c"):
        groups.enroll(room, topic=room.upper())
    assert [g.room_id for g in groups.list()] == ["b", "a", "c"]


def test_groups_cli(client: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKSENTRY_DATA_DIR", str(tmp_path))  # the fixture's server, shared
    runner = CliRunner()
    enrolled = runner.invoke(
        main,
        ["groups", "enroll", "r9@chatroom", "--topic", "项目组", "--admin", "a1", "--officer=o1"],
    )
    assert enrolled.exit_code == 0, enrolled.output
    listed = runner.invoke(main, ["groups", "list"])
    assert "r9@chatroom" in listed.output and "项目组" in listed.output
    shown = runner.invoke(main, ["groups", "show", "r9@chatroom"])
    assert "a1" in shown.output and "o1" in shown.output
    assert runner.invoke(main, ["groups", "show", "nope"]).exit_code == 1
    assert runner.invoke(main, ["groups", "unenroll", "r9@chatroom"]).exit_code == 0
    assert not client.sismember(keys.GROUPS_ENROLLED, "r9@chatroom")
    assert runner.invoke(main, ["groups", "unenroll", "r9@chatroom"]).exit_code == 1
