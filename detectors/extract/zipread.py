"""Reading ZIP members without trusting them: archives, OOXML and OFD packages all use this.

Declared sizes are checked against the caps before anything is inflated, the compression
ratio of large members is checked (zip bombs), and the inflated bytes are counted as they come,
so that a member lying about its size still stops at the cap.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from detectors.errors import CorruptFile, EncryptedContent, LimitExceeded, UnsupportedFormat
from detectors.extract.base import BOMB, TOO_LARGE, ExtractContext
from detectors.extract.common import MIB

CHUNK = 1024 * 1024
RATIO_MIN_BYTES = MIB
"""Below this a high ratio is harmless (a small run of blanks compresses 1000:1)."""


def open_zip(data: bytes, what: str = "ZIP archive") -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise CorruptFile(f"{what} is truncated or damaged (no readable file directory)") from exc
    except NotImplementedError as exc:  # a member claims a ZIP version Python cannot read
        raise UnsupportedFormat(f"{what} uses unsupported ZIP features ({exc})") from exc
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptFile(f"{what} is damaged ({exc})") from exc


def is_encrypted(info: zipfile.ZipInfo) -> bool:
    # Bit 0: traditional or AES encryption; method 99 is WinZip AES.
    return bool(info.flag_bits & 0x1) or info.compress_type == 99


def check_declared(size: int, packed: int | None, ctx: ExtractContext) -> None:
    """Refuse a member by its declared sizes alone, before inflating a byte.

    `packed` is None where the format does not say (members of a solid 7z block).
    """
    cap = ctx.limits.max_file_bytes
    ratio = size / max(packed, 1) if packed is not None else 0.0
    bomb_like = ratio > ctx.limits.max_compression_ratio
    if size > cap:
        raise LimitExceeded(
            f"possible zip bomb: member of {size:,} bytes exceeds the {cap:,} byte cap",
            BOMB if bomb_like else TOO_LARGE,
        )
    if size > RATIO_MIN_BYTES and bomb_like:
        raise LimitExceeded(
            f"possible zip bomb: member expands {ratio:,.0f} times "
            f"(cap {ctx.limits.max_compression_ratio:,.0f})",
            BOMB,
        )


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, ctx: ExtractContext, members: int = 1
) -> bytes:
    """The inflated member, counted against the tree's caps.

    `members=0` for the parts of a document (OOXML XML parts), 1 for files in an archive.
    """
    if is_encrypted(info):
        raise EncryptedContent("the file is password-protected")
    check_declared(info.file_size, info.compress_size, ctx)
    ctx.count_unpacked(info.file_size, members)
    return bounded_read(archive, info, min(info.file_size, ctx.limits.max_file_bytes))


def bounded_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """At most `cap` bytes; a member that inflates past it is a bomb, whatever it declared."""
    out = bytearray()
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK):
                out += chunk
                if len(out) > cap:
                    raise LimitExceeded(
                        f"possible zip bomb: member inflates past its {cap:,} declared bytes",
                        BOMB,
                    )
    except NotImplementedError as exc:
        raise UnsupportedFormat(f"compression method {info.compress_type} ({exc})") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise CorruptFile(f"compressed data is damaged ({exc})") from exc
    except RuntimeError as exc:  # zipfile: "File … is encrypted, password required"
        raise EncryptedContent("the file is password-protected") from exc
    return bytes(out)
