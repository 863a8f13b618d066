"""XMP packets (PDF, JPEG, PNG, WebP): the values of the fields a marking can be typed into."""

from __future__ import annotations

from lxml import etree

from detectors.extract.common import local, parse_xml

_FIELDS = frozenset({"title", "description", "subject", "keywords", "headline", "instructions"})
_MAX_XMP_BYTES = 1024 * 1024


def xmp_values(packet: bytes | str) -> list[str]:
    """Title, description, subject and keyword values of an XMP packet; [] when unreadable."""
    data = packet.encode("utf-8") if isinstance(packet, str) else packet
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        start = data.find(b"<rdf:RDF")
    if start < 0 or len(data) > _MAX_XMP_BYTES:
        return []
    end = data.rfind(b">")
    try:
        root = parse_xml(_well_formed(data[start : end + 1]))
    except etree.XMLSyntaxError:
        return []
    values: list[str] = []
    for element in root.iter():
        # Long form: <dc:title><rdf:Alt><rdf:li>…; short form: pdf:Keywords="…" attributes.
        if local(element.tag).lower() in _FIELDS:
            values += [text.strip() for text in element.itertext() if text.strip()]
        values += [
            str(value).strip()
            for name, value in element.attrib.items()
            if local(name).lower() in _FIELDS and str(value).strip()
        ]
    return values


def _well_formed(fragment: bytes) -> bytes:
    # The packet wrapper (<?xpacket end="w"?>) may trail the root element: cut after it.
    for closing in (b"</x:xmpmeta>", b"</rdf:RDF>"):
        end = fragment.rfind(closing)
        if end >= 0:
            return fragment[: end + len(closing)]
    return fragment
