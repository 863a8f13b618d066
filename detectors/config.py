"""Configuration of the scanner: data in `config/*.yaml`, validated once at start-up.

Errors name the file and the key, so that a security office editing a marking list sees
exactly what is wrong. The models are frozen (hashable), so detectors may cache what they
compile from them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from detectors.model import Verdict

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
CONFIG_DIR_ENV = "LEAKSENTRY_CONFIG_DIR"


class ConfigError(Exception):
    """A config file is missing, unreadable or invalid; the message names file and key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limits(_Frozen):
    max_file_bytes: int = Field(gt=0)
    max_image_pixels: int = Field(gt=0)
    max_pages: int = Field(gt=0)
    max_archive_depth: int = Field(ge=0)
    max_archive_members: int = Field(gt=0)
    max_archive_total_bytes: int = Field(gt=0)
    max_compression_ratio: float = Field(gt=1)
    max_text_chars: int = Field(gt=0)


class OcrSettings(_Frozen):
    engine: Literal["rapidocr", "rapidocr3", "tesseract"]
    threads: int = Field(ge=1)
    det_max_side: int = Field(ge=320)
    rec_char_budget: int = Field(ge=50)
    decided_body_chars: int = Field(ge=0)
    min_line_confidence: float = Field(ge=0, le=1)
    tesseract_lang: str
    priority_top_ratio: float = Field(ge=0, le=1)
    priority_bottom_ratio: float = Field(ge=0, le=1)
    short_line_chars: int = Field(ge=1)
    fast_rec_height: int = Field(ge=16, le=48)
    fast_rec_squeeze: float = Field(gt=0, le=1)
    long_rec_squeeze: float = Field(gt=0, le=1)
    orientation_max_side: int = Field(ge=320)
    tesseract_max_side: int = Field(ge=640)
    tesseract_psm: int = Field(ge=0, le=13)
    lexicon_max_chars: int = Field(ge=1)
    lexicon_max_loss: float = Field(ge=0)


class ScreenPageSettings(_Frozen):
    """The document page inside a screenshot (`detectors.vision.screen`)."""

    paper_min_level: int = Field(ge=0, le=255)
    paper_max_spread: int = Field(ge=0, le=255)
    photo_paper_share: float = Field(gt=0, le=1)
    min_fill: float = Field(gt=0, le=1)
    min_area_ratio: float = Field(gt=0, lt=1)
    max_area_ratio: float = Field(gt=0, lt=1)
    min_lines: int = Field(ge=1)


class VisionSettings(_Frozen):
    decode_max_side: int = Field(ge=640)
    decode_min_side: int = Field(ge=640)
    page_max_side: int = Field(ge=640)
    min_page_area_ratio: float = Field(gt=0, lt=1)
    find_max_side: int = Field(ge=200)
    min_page_contrast: float = Field(ge=0, le=255)
    min_skew_degrees: float = Field(ge=0)
    max_skew_degrees: float = Field(gt=0, le=45)
    max_text_skew_degrees: float = Field(gt=0, le=45)
    min_skew_agreement: float = Field(gt=0, le=1)
    screen_page: ScreenPageSettings

    @model_validator(mode="after")
    def _decode_range(self) -> VisionSettings:
        if self.decode_min_side > self.decode_max_side:
            raise ValueError("decode_min_side must not exceed decode_max_side")
        return self


class LayoutSettings(_Frozen):
    top_zone_ratio: float = Field(gt=0, le=1)
    left_zone_ratio: float = Field(gt=0, le=1)
    top_zone_lines: int = Field(ge=1)
    top_zone_first_lines: int = Field(ge=0)
    bottom_zone_ratio: float = Field(gt=0, le=1)
    alone_max_extra_chars: int = Field(ge=0)
    cell_max_gap_ratio: float = Field(default=0.3, gt=0, le=1)


class RedSettings(_Frozen):
    hue_low_max: int = Field(ge=0, le=180)
    hue_high_min: int = Field(ge=0, le=180)
    min_saturation: int = Field(ge=0, le=255)
    min_value: int = Field(ge=0, le=255)
    max_white_balance_gain: float = Field(ge=1)
    faint_min_saturation: int = Field(ge=0, le=255)
    ink_hue: int = Field(default=-1, ge=-20, le=20)
    max_hue_shift: int = Field(default=0, ge=0, le=15)
    max_ink_share: float = Field(default=0.15, gt=0, le=1)


class RedHeaderSettings(_Frozen):
    band_ratio: float = Field(gt=0, le=1)
    min_rule_width_ratio: float = Field(gt=0, le=1)
    max_rule_height_ratio: float = Field(gt=0, le=1)
    min_mark_height_ratio: float = Field(gt=0, le=1)
    max_red_area_ratio: float = Field(gt=0, le=1)
    min_text_size: float = Field(gt=0)
    banner_words: tuple[str, ...]
    masthead_suffixes: tuple[str, ...]


class SealSettings(_Frozen):
    min_diameter_ratio: float = Field(gt=0, le=1)
    max_diameter_ratio: float = Field(gt=0, le=1)
    min_circularity: float = Field(gt=0, le=1)
    min_ring_fill: float = Field(gt=0, le=1)
    max_aspect: float = Field(ge=1)


class PersonalDataSettings(_Frozen):
    min_ids: int = Field(ge=1)
    min_phones: int = Field(ge=1)
    min_mixed: int = Field(ge=1)


class ScanSettings(_Frozen):
    limits: Limits
    ocr: OcrSettings
    vision: VisionSettings
    layout: LayoutSettings
    red: RedSettings
    red_header: RedHeaderSettings
    seal: SealSettings
    personal_data: PersonalDataSettings


class ClassificationMarkings(_Frozen):
    levels: tuple[str, ...] = Field(min_length=1)
    star_variants: tuple[str, ...] = Field(min_length=1)
    periods: tuple[str, ...] = Field(min_length=1)
    bare_level_confidence: float = Field(ge=0, le=1)
    field_labels: tuple[str, ...] = ("密级",)


class HandlingMarkings(_Frozen):
    phrases: tuple[str, ...] = Field(min_length=1)
    parenthesized: tuple[str, ...]
    drafts: tuple[str, ...]
    separators: str
    misreads: tuple[tuple[str, str], ...]
    """(misread, word) pairs."""


class PublicRelease(_Frozen):
    parenthesized: tuple[str, ...] = Field(min_length=1)


class Markings(_Frozen):
    classification: ClassificationMarkings
    handling: HandlingMarkings
    public_release: PublicRelease

    @property
    def words(self) -> tuple[str, ...]:
        """The fixed words of markings: levels, handling phrases and draft states."""
        handling = self.handling
        return tuple(
            dict.fromkeys((*self.classification.levels, *handling.phrases, *handling.drafts))
        )


class DocNumber(_Frozen):
    open_brackets: str = Field(min_length=1)
    close_brackets: str = Field(min_length=1)
    max_agency_chars: int = Field(ge=1)
    min_year: int
    max_year: int


class OrganMark(_Frozen):
    suffixes: tuple[str, ...] = Field(min_length=1)
    organ_words: tuple[str, ...] = Field(min_length=1)
    titles: tuple[str, ...] = ()
    max_chars: int = Field(ge=4)


class Colophon(_Frozen):
    cc_labels: tuple[str, ...]
    main_labels: tuple[str, ...]
    printed_suffix: str


class Headers(_Frozen):
    doc_number: DocNumber
    organ_mark: OrganMark
    issuer_labels: tuple[str, ...]
    urgency: tuple[str, ...]
    copy_number_digits: int = Field(ge=4, le=10)
    colophon: Colophon
    telegram_fields: tuple[str, ...]
    cell_labels: tuple[str, ...] = ("份号",)
    min_features: int = Field(ge=1)


class PolicyRule(_Frozen):
    when: tuple[str, ...] = Field(min_length=1)
    verdict: Literal["critical", "high", "medium", "low"]


class PublicReleasePolicy(_Frozen):
    when: str
    lower_by: int = Field(ge=0, le=4)
    floor: Literal["critical", "high", "medium", "low"]
    unless: tuple[str, ...] = ()


class Policy(_Frozen):
    min_confidence: float = Field(ge=0, le=1)
    rules: tuple[PolicyRule, ...] = Field(min_length=1)
    public_release: PublicReleasePolicy


class TextFingerprintSettings(_Frozen):
    shingle_chars: int = Field(ge=2, le=12)
    sample_modulus: int = Field(ge=1)
    min_chars: int = Field(ge=1)
    confusables: tuple[tuple[str, str], ...]
    """(misread, meant) pairs of single characters; a mapping in the YAML."""
    boilerplate: tuple[str, ...]
    marking_max_extra_chars: int = Field(ge=0)
    doc_number_weight: int = Field(ge=1)

    @field_validator("confusables", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        # A mapping reads best in YAML; pairs keep the model hashable (compiled once, cached).
        return tuple(value.items()) if isinstance(value, dict) else value

    @field_validator("confusables")
    @classmethod
    def _single_characters(cls, value: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        for misread, meant in value:
            if len(misread) != 1 or len(meant) != 1:
                raise ValueError(f"{misread!r} -> {meant!r}: one character each")
        return value


class ImageFingerprintSettings(_Frozen):
    method: Literal["phash", "dhash", "whash"]
    header_band_ratio: float = Field(gt=0, lt=1)
    min_side: int = Field(ge=16)
    ink_level: float = Field(gt=0, lt=1)
    max_text_chars: int = Field(ge=0)


class LayoutFingerprintSettings(_Frozen):
    tolerance_x: float = Field(gt=0)
    tolerance_y: float = Field(gt=0)
    max_rotation_degrees: float = Field(ge=0, le=90)
    max_patches: int = Field(ge=1)
    min_patch_marks: int = Field(ge=2)
    max_patch_shift: float = Field(gt=0)
    scale_slack: float = Field(ge=1)
    ransac_hypotheses: int = Field(ge=1)
    max_placements_per_mark: int = Field(ge=1)


class DistinctiveSettings(_Frozen):
    min_population: int = Field(ge=1)
    min_marks: int = Field(ge=1)
    min_share: float = Field(gt=0, le=1)


class VerifySettings(_Frozen):
    threshold: float = Field(gt=0, le=1)
    min_query_marks: int = Field(ge=1)
    min_matched_marks: int = Field(ge=1)
    min_matched_weight: float = Field(ge=0)
    min_plain_share: float = Field(ge=0, le=1)
    min_matched_lines: int = Field(ge=1)
    text_only_threshold: float = Field(gt=0, le=1)
    image_max_hamming: int = Field(ge=0, le=64)
    image_max_text_marks: int = Field(ge=0)
    distinctive: DistinctiveSettings


class IndexSettings(_Frozen):
    min_shared_marks: int = Field(ge=1)
    max_hamming: int = Field(ge=0, le=64)
    max_candidates: int = Field(ge=1)


class RegistrationSettings(_Frozen):
    rec_char_budget: int = Field(ge=50)


class FingerprintSettings(_Frozen):
    """How pages are fingerprinted and verified (config/fingerprint.yaml)."""

    text: TextFingerprintSettings
    image: ImageFingerprintSettings
    layout: LayoutFingerprintSettings
    verify: VerifySettings
    index: IndexSettings
    registration: RegistrationSettings
    markings: Markings | None = None
    """Copied from markings.yaml by `load_config`: marking lines are template, not content."""
    headers: Headers | None = None
    """Copied from headers.yaml by `load_config`: organ marks and page furniture likewise."""

    @model_validator(mode="after")
    def _index_radius(self) -> FingerprintSettings:
        if self.index.max_hamming > self.verify.image_max_hamming:
            raise ValueError("index.max_hamming must not exceed verify.image_max_hamming")
        return self


class ScanConfig(_Frozen):
    """Everything the scanner reads from `config/`."""

    scan: ScanSettings
    markings: Markings
    headers: Headers
    policy: Policy
    fingerprint: FingerprintSettings
    source_dir: str = ""


_FILES: dict[str, type[_Frozen]] = {
    "scan": ScanSettings,
    "markings": Markings,
    "headers": Headers,
    "policy": Policy,
    "fingerprint": FingerprintSettings,
}


def config_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config folder: the explicit one, else $LEAKSENTRY_CONFIG_DIR, else the repo's."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_DIR_ENV)
    return Path(env) if env else DEFAULT_CONFIG_DIR


def load_yaml(path: Path) -> dict[str, object]:
    """Read one YAML mapping, with errors that name the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def validation_problems(exc: ValidationError) -> str:
    """Every problem pydantic found, on one line: `where.in.the.file: what is wrong; ...`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
    )


def _validate(path: Path, model: type[_Frozen]) -> _Frozen:
    try:
        return model.model_validate(load_yaml(path))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_problems(exc)}") from exc


def load_config(directory: str | os.PathLike[str] | None = None) -> ScanConfig:
    """Load and validate every scanner config file in `directory`."""
    folder = config_dir(directory)
    parts = {name: _validate(folder / f"{name}.yaml", model) for name, model in _FILES.items()}
    parts["fingerprint"] = parts["fingerprint"].model_copy(
        update={"markings": parts["markings"], "headers": parts["headers"]}
    )
    config = ScanConfig.model_validate({**parts, "source_dir": str(folder)})
    _check_policy_names(config)
    _check_unread_alerts(config)
    return config


UNREAD_DETECTORS = ("encrypted", "incomplete")
"""What the scanner could not read must reach an officer: their rules are at least medium."""


def _check_unread_alerts(config: ScanConfig) -> None:
    for name in UNREAD_DETECTORS:
        verdicts = [r.verdict for r in config.policy.rules if r.when == (name,)]
        if not verdicts or min(Verdict.parse(v) for v in verdicts) < Verdict.MEDIUM:
            raise ConfigError(
                f"{config.source_dir}/policy.yaml: a rule `when: [{name}]` with verdict medium "
                "or louder is required (content that could not be read may hide a leak)"
            )


def _check_policy_names(config: ScanConfig) -> None:
    # Imported here: the detector registry imports this module for its types.
    from detectors.registry import DETECTOR_NAMES

    known = set(DETECTOR_NAMES)
    conditions = [c for rule in config.policy.rules for c in rule.when]
    conditions += [config.policy.public_release.when, *config.policy.public_release.unless]
    for condition in conditions:
        if condition.split(":", 1)[0] not in known:
            raise ConfigError(
                f"{config.source_dir}/policy.yaml: unknown detector {condition!r} "
                f"(known: {', '.join(sorted(known))})"
            )
