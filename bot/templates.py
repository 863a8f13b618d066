"""The bot's Chinese messages, from `config/messages.yaml`, validated once at start-up.

Each template names its placeholders as `{name}`, and may use only the names listed for it in
`TEMPLATE_FIELDS`. No template has a field for what a message or page says: an alert names
what was found (detector labels in Chinese), so that a leaked page is never sent on again.

Every value filled in is `flatten`ed first: a member's name or a group's topic is chosen by
whoever set it, and "张三\n风险等级：无风险" must not forge a line of an officer's alert, nor
an RTL override turn a line around. Only text the bot composed itself (`Composed`: the lines of
a batched alert, a list of ids, a link, the names of findings) goes in as it is.
"""

from __future__ import annotations

import os
import string
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from detectors.config import ConfigError, config_dir, load_yaml
from detectors.model import Verdict
from detectors.registry import DETECTOR_NAMES

MESSAGES_FILE = "messages.yaml"

_INCIDENT = frozenset({"incident_id", "group", "member", "time", "item", "findings", "verdict"})

TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "member_warning": frozenset({"member", "item", "group"}),
    "member_warning_burst": frozenset({"count", "members", "group"}),
    "officer_alert": _INCIDENT | {"link"},
    "spread_note": _INCIDENT | {"link", "first_group"},
    "batched_alert": frozenset({"count", "lines", "link", "window"}),
    "batched_group_line": frozenset({"group", "count", "ids"}),
    "batched_spread_id": frozenset({"incident_id"}),
    "dead_letter_notice": frozenset({"group", "member", "time", "item", "reason"}),
    "recall_noted": frozenset({"incident_id", "group", "member", "time"}),
    "enroll_help": frozenset({"group"}),
    "status": frozenset(
        {"group", "enrolled_by", "enrolled_at", "admin_count", "officer_count", "open_incidents"}
    ),
    "help": frozenset(),
    "dm_help": frozenset(),
    "reply_enrolled": frozenset({"group", "admin_count", "officer_count"}),
    "reply_unenrolled": frozenset({"group"}),
    "reply_not_allowed": frozenset(),
    "reply_not_recipient": frozenset({"incident_id"}),
    "reply_incident_updated": frozenset({"incident_id", "status"}),
    "reply_unknown_incident": frozenset({"incident_id"}),
    "redis_outage": frozenset({"since", "minutes"}),
    "redis_outage_over": frozenset({"since", "until", "spooled", "refused"}),
    "decision_notice": frozenset({"incident_id", "group", "decider", "status", "time"}),
    "false_positive_member": frozenset({"item", "incident_id"}),
}
"""Every template the bot sends, and the placeholders it may use."""

FINDING_FIELDS = frozenset({"label"})
FALLBACK_ITEM = "other"
FALLBACK_REASON = "error"
LABEL_SEPARATOR = "、"


ELLIPSIS = "…"

_DROPPED_CATEGORIES = frozenset({"Cf", "Co", "Cs", "Cn"})
"""Format characters (bidi controls and isolates, zero-width ones, BOM), private-use,
surrogates and unassigned code points: removed."""
_SPACED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
"""Control characters (line breaks, tabs, escapes) and line or paragraph separators: a space."""


class Composed(str):
    """Text the bot composed itself, from its own templates and config: filled in as it is."""


def flatten(value: object, max_chars: int) -> str:
    """`value` as one line of visible text: control characters and separators become spaces,
    bidi and zero-width characters go, runs of white space become one space, and the rest is
    cut to `max_chars` (with an ellipsis)."""
    kept = []
    for char in str(value):
        category = unicodedata.category(char)
        if category in _SPACED_CATEGORIES:
            kept.append(" ")
        elif category not in _DROPPED_CATEGORIES:
            kept.append(char)
    line = " ".join("".join(kept).split())
    if len(line) <= max_chars:
        return line
    return line[: max_chars - 1].rstrip() + ELLIPSIS


class TemplateError(ValueError):
    """A template was rendered with fields that do not match its declaration (a code bug)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MessagesConfig(_Frozen):
    time_zone: str = Field(min_length=1)
    time_format: str = Field(min_length=1)
    label_max_chars: int = Field(ge=1)
    value_max_chars: int = Field(default=64, ge=8)
    """A value filled into a message (a name, a topic) is cut to this many characters."""
    verdicts: dict[str, str]
    items: dict[str, str]
    findings: dict[str, str]
    labelled_findings: dict[str, str] = {}
    finding_labels: dict[str, dict[str, str]] = {}
    statuses: dict[str, str]
    reasons: dict[str, str]
    templates: dict[str, str]


class Templates:
    """Renders the messages of one validated `messages.yaml`."""

    def __init__(self, config: MessagesConfig, source: Path) -> None:
        self.config = config
        self.source = source
        self.zone = ZoneInfo(config.time_zone)

    def render(self, key: str, **fields: object) -> Composed:
        """The template `key` with exactly its declared fields filled in, each flattened to
        one line (see the module docstring) unless it is `Composed`."""
        allowed = TEMPLATE_FIELDS.get(key)
        if allowed is None:
            raise TemplateError(f"no template {key!r}")
        given = set(fields)
        if given != allowed:
            missing = ", ".join(sorted(allowed - given)) or "-"
            extra = ", ".join(sorted(given - allowed)) or "-"
            raise TemplateError(f"template {key!r}: missing fields {missing}; unknown {extra}")
        values = {k: self._value(v) for k, v in fields.items()}
        return Composed(self.config.templates[key].format_map(values))

    def _value(self, value: object) -> str:
        if isinstance(value, Composed):
            return str(value)
        return flatten(value, self.config.value_max_chars)

    def verdict(self, verdict: str) -> str:
        return self.config.verdicts.get(verdict.strip().lower(), verdict)

    def item(self, kind: str) -> str:
        items = self.config.items
        return items.get(kind, items[FALLBACK_ITEM])

    def status(self, status: str) -> str:
        return self.config.statuses.get(status, status)

    def reason(self, reason: str) -> str:
        """The class of a dead-letter reason ("corrupt: ..." -> its Chinese name), never the
        details after the colon."""
        word = reason.split(":", 1)[0].strip().lower()
        reasons = self.config.reasons
        return reasons.get(word, reasons[FALLBACK_REASON])

    def time(self, unix_time: float) -> str:
        """A moment in the configured time zone, with the zone: `2026-12-03 14:59:53 UTC+8`.
        Chat and console show times only through this, so the two always agree."""
        moment = self.local(unix_time)
        return f"{moment.strftime(self.config.time_format)} {utc_offset_label(moment)}"

    def local(self, unix_time: float) -> datetime:
        return datetime.fromtimestamp(unix_time, tz=UTC).astimezone(self.zone)

    def day_start(self, day: date) -> float:
        """The Unix time at which `day` begins in the configured time zone."""
        return datetime.combine(day, time.min, tzinfo=self.zone).timestamp()

    def today(self) -> date:
        return datetime.now(tz=self.zone).date()

    def finding_names(self, findings: Iterable[object]) -> list[str]:
        """What was found, one Chinese name per detector, loudest first, labels merged:
        `["密级标志「机密」", "公文版头要素（发文字号、发文机关标志）"]`. Evidence is never read."""
        labels: dict[str, list[str]] = {}
        for finding in findings:
            detector = str(_field(finding, "detector"))
            if detector not in self.config.findings:
                continue
            label = self._label(detector, str(_field(finding, "label") or ""))
            seen = labels.setdefault(detector, [])
            if label and label not in seen:
                seen.append(label)
        return [self._finding_name(d, labels[d]) for d in self.config.findings if d in labels]

    def findings(self, findings: Iterable[object]) -> Composed:
        names = LABEL_SEPARATOR.join(self.finding_names(findings))
        return Composed(names or self.item(FALLBACK_ITEM))

    def _finding_name(self, detector: str, labels: list[str]) -> str:
        labelled = self.config.labelled_findings.get(detector)
        if labelled is None or not labels:
            return self.config.findings[detector]
        return labelled.format(label=LABEL_SEPARATOR.join(labels))

    def _label(self, detector: str, label: str) -> str:
        names = self.config.finding_labels.get(detector)
        if names is not None:
            return names.get(label, "")
        label = flatten(label, len(label))
        return label if len(label) <= self.config.label_max_chars else ""


def load_templates(directory: str | os.PathLike[str] | None = None) -> Templates:
    """`messages.yaml` of the config folder, checked: every template present, every
    placeholder known. Errors name the file and the key."""
    path = config_dir(directory) / MESSAGES_FILE
    data = load_yaml(path)
    try:
        config = MessagesConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
    try:
        ZoneInfo(config.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{path}: time_zone: no time zone {config.time_zone!r}") from None
    wrong = _problems(config)
    if wrong:
        raise ConfigError(f"{path}: " + "; ".join(wrong))
    return Templates(config, path)


def _problems(config: MessagesConfig) -> list[str]:
    problems: list[str] = []
    for key in TEMPLATE_FIELDS.keys() - config.templates.keys():
        problems.append(f"templates.{key}: missing")
    for key, text in config.templates.items():
        if key not in TEMPLATE_FIELDS:
            problems.append(f"templates.{key}: not a template the bot sends")
            continue
        problems += _placeholder_problems(f"templates.{key}", text, TEMPLATE_FIELDS[key])
    for name in sorted(set(DETECTOR_NAMES) - config.findings.keys()):
        problems.append(f"findings.{name}: missing")
    for name, text in config.findings.items():
        if name not in DETECTOR_NAMES:
            problems.append(f"findings.{name}: not a detector")
        problems += _placeholder_problems(f"findings.{name}", text, frozenset())
    for name, text in config.labelled_findings.items():
        if name not in config.findings:
            problems.append(f"labelled_findings.{name}: not in findings")
        problems += _placeholder_problems(f"labelled_findings.{name}", text, FINDING_FIELDS)
    for name in config.finding_labels.keys() - config.labelled_findings.keys():
        problems.append(f"finding_labels.{name}: not in labelled_findings")
    for verdict in Verdict:
        if verdict.label not in config.verdicts:
            problems.append(f"verdicts.{verdict.label}: missing")
    if FALLBACK_ITEM not in config.items:
        problems.append(f"items.{FALLBACK_ITEM}: missing")
    if FALLBACK_REASON not in config.reasons:
        problems.append(f"reasons.{FALLBACK_REASON}: missing")
    return problems


def utc_offset_label(moment: datetime) -> str:
    """`UTC+8`, `UTC-3:30`, `UTC`: the moment's offset, readable in any language."""
    offset = moment.utcoffset() or timedelta(0)
    minutes = round(offset.total_seconds() / 60)
    if minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    sign = "+" if minutes > 0 else "-"
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _placeholder_problems(where: str, text: str, allowed: frozenset[str]) -> list[str]:
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [f"{where}: {exc} (write a literal brace as {{{{ or }}}})"]
    problems = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if spec or conversion:
            problems.append(f"{where}: {{{name}}} may not have a format spec or conversion")
        elif name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            problems.append(f"{where}: unknown placeholder {{{name}}} (known: {known})")
    return problems


def _field(finding: object, name: str) -> object:
    """A finding may be a mapping (from JSON) or an object (a `Finding`)."""
    if isinstance(finding, Mapping):
        return finding.get(name)
    return getattr(finding, name, None)
