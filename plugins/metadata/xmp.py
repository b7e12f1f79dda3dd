"""XMP (ISO 16684-1): find the packet in the raw file and flatten its RDF into key/value rows.

The packet is searched in the raw bytes rather than taken from Pillow's `info`, so it is found
in any container (JPEG APP1, PNG iTXt, TIFF tag 700, WebP chunk) the same way.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

from plugins.metadata.values import shorten

MAX_PACKET = 2 * 1024 * 1024
"""Larger packets are refused: real ones are kilobytes, huge ones are a parsing hazard."""

MAX_DEPTH = 100
"""Deeper element nesting is refused: real XMP nests a dozen levels (structures in lists in
structures); the flattening recurses once per level, so the depth must be bounded up front."""

DECLARATIONS = re.compile(rb"<!(DOCTYPE|ENTITY)")
"""Real XMP packets declare no DTD, and declared entities are how XML bombs expand: a packet
declaring one is refused, never expanded (defusedxml is not a dependency)."""

OVERSIZED = f"the XMP packet exceeds the {MAX_PACKET >> 20} MB limit and was skipped"

PACKET_START = re.compile(rb"<x:x[am]pmeta")  # "xapmeta" is the pre-2002 name, still seen in old files
PACKET_END = re.compile(rb"</x:x[am]pmeta\s*>")

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
XML_NS = "{http://www.w3.org/XML/1998/namespace}"
CONTAINERS = {f"{RDF}Seq", f"{RDF}Bag", f"{RDF}Alt"}

KNOWN_PREFIXES = {
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/xap/1.0/sType/ResourceRef#": "stRef",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://purl.org/dc/elements/1.1/": "dc",
}
"""Conventional prefixes, used when a packet binds a namespace under an unusual prefix."""

Rows = list[tuple[str, str]]


def find_packet(data: bytes) -> bytes | None:
    """The first `<x:xmpmeta>…</x:xmpmeta>` element in the file, or None; ValueError if oversized.

    Starting at the element leaves out any DTD, so the parser cannot expand declared entities.
    """
    start = PACKET_START.search(data)
    if start is None:
        return None
    end = PACKET_END.search(data, start.end(), start.start() + MAX_PACKET)
    if end is None:
        if PACKET_END.search(data, start.end()):
            raise ValueError(OVERSIZED)
        raise ValueError("the XMP packet has no closing </x:xmpmeta> tag (truncated)")
    return data[start.start() : end.end()]


def read_xmp(data: bytes) -> Rows:
    """`parse_xmp` of the file's packet (`find_packet`), [] when it has none; ValueError if damaged."""
    packet = find_packet(data)
    return parse_xmp(packet) if packet is not None else []


def parse_xmp(packet: bytes) -> Rows:
    """Flatten the packet into ("prefix:name", value) rows; structures become "a/b", lists "a[1]".

    ValueError, worded for the analyst, when the packet is oversized, declares a DTD or entities,
    is not well-formed XML or nests deeper than MAX_DEPTH.
    """
    prefixes, root = _parsed(packet)
    rdf = root if root.tag == f"{RDF}RDF" else root.find(f".//{RDF}RDF")
    if rdf is None:
        return []
    flattener = _Flattener(prefixes)
    for description in rdf.findall(f"{RDF}Description"):
        flattener.fields(description, "")
    return flattener.rows


def _parsed(packet: bytes) -> tuple[dict[str, str], ET.Element]:
    """The namespace prefixes by URI and the root element, checked as `parse_xmp` says."""
    if len(packet) > MAX_PACKET:
        raise ValueError(OVERSIZED)
    if DECLARATIONS.search(packet):
        raise ValueError("the XMP packet declares a DTD or entities, which XMP does not use; it was not expanded")
    prefixes: dict[str, str] = {}
    depth = 0
    parser = ET.iterparse(io.BytesIO(packet), events=("start", "end", "start-ns"))
    try:
        for event, item in parser:
            if event == "start-ns":
                prefix, uri = item
                prefixes.setdefault(uri, KNOWN_PREFIXES.get(uri, prefix))
            elif event == "end":
                depth -= 1
            elif (depth := depth + 1) > MAX_DEPTH:
                raise ValueError(f"the XMP packet nests elements more than {MAX_DEPTH} deep (real XMP: a dozen)")
    except ET.ParseError as exc:
        raise ValueError(f"the XMP packet is not well-formed XML ({exc})") from None
    return prefixes, parser.root


class _Flattener:
    """Walks RDF/XML property elements, appending a row per simple value."""

    def __init__(self, prefixes: dict[str, str]) -> None:
        self.prefixes = prefixes
        self.rows: Rows = []

    def fields(self, node: ET.Element, key: str) -> None:
        """Attributes and child properties of a description or structure."""
        for attr, value in node.attrib.items():
            if _is_field(attr):
                self.rows.append((self._join(key, attr), shorten(value)))
        for child in node:
            if child.tag == f"{RDF}Description":
                self.fields(child, key)
            else:
                self.property(child, self._join(key, child.tag))

    def property(self, prop: ET.Element, key: str) -> None:
        container = next((c for c in prop if c.tag in CONTAINERS), None)
        resource = prop.get(f"{RDF}resource")
        if container is not None:
            self.container(container, key)
        elif resource is not None:
            self.rows.append((key, shorten(resource)))
        elif len(prop) or any(_is_field(a) for a in prop.attrib):
            self.fields(prop, key)
        else:
            self.rows.append((key, shorten((prop.text or "").strip())))

    def container(self, container: ET.Element, key: str) -> None:
        """Lists of plain text become one "a; b; c" row; lists of structures one row group each."""
        items = container.findall(f"{RDF}li")
        if all(_is_plain(li) for li in items):
            self.rows.append((key, shorten("; ".join((li.text or "").strip() for li in items))))
            return
        for index, li in enumerate(items, start=1):
            self.property(li, f"{key}[{index}]")

    def _join(self, key: str, tag: str) -> str:
        name = self._prefixed(tag)
        return f"{key}/{name}" if key else name

    def _prefixed(self, tag: str) -> str:
        if not tag.startswith("{"):
            return tag
        uri, _, local = tag[1:].partition("}")
        return f"{self.prefixes.get(uri, uri)}:{local}"


def _is_field(attr: str) -> bool:
    """Attributes that carry XMP values, not RDF syntax or xml:lang."""
    return not attr.startswith((RDF, XML_NS))


def _is_plain(li: ET.Element) -> bool:
    return len(li) == 0 and not any(_is_field(a) for a in li.attrib) and f"{RDF}resource" not in li.attrib


IPTC_EXT = "{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}"
"""The IPTC Extension namespace, matched by URI: a packet may bind it to any prefix."""


def digital_source_type(packet: bytes) -> str | None:
    """`Iptc4xmpExt:DigitalSourceType` (how the picture was made, e.g. by a trained AI model), or None.

    Read by namespace URI, as an attribute or an element, wherever it is in the packet.
    """
    for node in ET.fromstring(packet).iter():
        value = node.get(f"{IPTC_EXT}DigitalSourceType")
        if value is None and node.tag == f"{IPTC_EXT}DigitalSourceType":
            value = node.get(f"{RDF}resource") or node.text
        if value and value.strip():
            return value.strip()
    return None
