"""Plain text: encodings, pages of lines, the character cap."""

from __future__ import annotations

import codecs

import pytest
from test_extract_builders import run

from detectors.errors import UnsupportedFormat
from detectors.extract.text import LINES_PER_PAGE

NOTICE = "机密★1年\n某某市人民政府文件\n\n关于开展检查工作的通知\n"


@pytest.mark.parametrize(
    "data",
    [
        NOTICE.encode("utf-8"),
        codecs.BOM_UTF8 + NOTICE.encode("utf-8"),
        NOTICE.encode("utf-16"),  # with its BOM, as Windows Notepad writes it
        NOTICE.encode("gb18030"),
        NOTICE.replace("\n", "\r\n").encode("gbk"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "gb18030", "gbk-crlf"],
)
def test_encodings(data: bytes) -> None:
    pages, _ = run(data, "notice.txt")
    (page,) = pages
    assert [line.text for line in page.lines] == [
        "机密★1年",
        "某某市人民政府文件",
        "关于开展检查工作的通知",
    ]
    assert (page.number, page.image, page.needs_ocr) == (1, None, False)


def test_long_text_is_split_into_pages() -> None:
    data = "\n".join(f"第{i}行" for i in range(130)).encode()
    pages, _ = run(data, "long.csv")
    assert [page.number for page in pages] == [1, 2, 3]
    assert pages[0].lines[0].text == "第0行" and len(pages[0].lines) == LINES_PER_PAGE
    assert pages[2].lines[-1].text == "第129行"


def test_character_cap() -> None:
    pages, _ = run(("机" * 5000).encode(), "big.md", max_text_chars=1000)
    assert sum(len(page.text) for page in pages) == 1000


def test_binary_garbage_is_refused() -> None:
    with pytest.raises(UnsupportedFormat, match="unknown binary format"):
        run(b"\x00\x01\x02binary\x00" * 100, "dump.txt")
