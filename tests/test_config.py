"""Config is validated at start-up, and its errors name the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from detectors import ConfigError, Verdict, load_config
from detectors.config import DEFAULT_CONFIG_DIR
from detectors.model import Finding
from detectors.policy import decide


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    return target


def test_bad_value_names_file_and_key(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    scan = folder / "scan.yaml"
    scan.write_text(scan.read_text().replace("max_pages: 100", "max_pages: -1"))
    with pytest.raises(ConfigError, match=r"scan\.yaml: limits\.max_pages"):
        load_config(folder)


def test_unknown_detector_in_policy_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    policy = folder / "policy.yaml"
    policy.write_text(policy.read_text().replace("[red_header], verdict", "[red_hedaer], verdict"))
    with pytest.raises(ConfigError, match="unknown detector 'red_hedaer'"):
        load_config(folder)


def test_missing_file_and_broken_yaml(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "headers.yaml").write_text("doc_number: [unclosed")
    with pytest.raises(ConfigError, match=r"headers\.yaml: cannot read"):
        load_config(folder)
    (folder / "headers.yaml").unlink()
    with pytest.raises(ConfigError, match=r"headers\.yaml: file not found"):
        load_config(folder)


def _f(detector: str, label: str = "x", confidence: float = 0.9) -> Finding:
    return Finding(detector=detector, label=label, confidence=confidence, page=1, evidence="")


@pytest.mark.parametrize(
    ("findings", "verdict"),
    [
        ([], Verdict.CLEAN),
        ([_f("seal")], Verdict.CLEAN),
        ([_f("public_release")], Verdict.CLEAN),
        ([_f("red_header")], Verdict.MEDIUM),
        ([_f("document_header")], Verdict.LOW),
        ([_f("document_header"), _f("red_header")], Verdict.HIGH),
        ([_f("document_header"), _f("red_header"), _f("public_release")], Verdict.MEDIUM),
        ([_f("handling_marking")], Verdict.HIGH),
        ([_f("handling_marking", confidence=0.3)], Verdict.CLEAN),
        ([_f("classification_marking"), _f("public_release")], Verdict.CRITICAL),
        ([_f("encrypted")], Verdict.MEDIUM),
    ],
)
def test_policy(findings: list[Finding], verdict: Verdict) -> None:
    assert decide(findings, load_config().policy) == verdict


def test_archive_members_are_decided_one_by_one(tmp_path: Path) -> None:
    """A published member must not lower the verdict of another member with a marking."""
    import io
    import zipfile

    from detectors import Scanner

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("public.txt", "吉林省人民政府文件\n吉政发〔2024〕1号\n（此件公开发布）\n")
        archive.writestr("internal.txt", "内部资料\n关于做好节日值班工作的通知\n")
    report = Scanner(load_config()).scan(buffer.getvalue(), "bundle.zip")
    assert report.verdict == Verdict.HIGH


def test_a_failing_detector_costs_only_its_own_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    from detectors import Scanner
    from detectors.registry import PAGE_DETECTORS

    def broken(ctx: object) -> list[Finding]:
        raise ValueError("odd page")

    monkeypatch.setitem(PAGE_DETECTORS, "seal", broken)
    report = Scanner(load_config()).scan("机密★1年\n正文\n".encode(), "note.txt")
    assert report.error is None and report.verdict == Verdict.CRITICAL
    assert any("seal failed: odd page" in w for w in report.warnings)
