"""Unsigned traces of how a picture was made: the IPTC digital source type, image generators named
in software fields, and generation parameters left in text chunks and comments.

Generators and their front ends write such traces by default (Stable Diffusion web UIs store the
prompt and sampler settings in a PNG `parameters` chunk, ComfyUI its whole workflow). They are
leads, not proof: anyone can write, edit or strip them, and their absence says nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from plugins.metadata import source_types
from plugins.metadata.values import shorten
from workbench.api import Marker

VALUE_LIMIT = 200
"""Characters of a marker's value kept (prompts and workflows can be kilobytes)."""

GENERATORS = re.compile(
    r"\b(midjourney|dall[-·‧ ]?e|stable[ -]?diffusion|sdxl|novelai|comfyui|automatic1111|invokeai|fooocus|"
    r"firefly|imagen|leonardo\.?ai|ideogram|flux|craiyon|nightcafe|dreamstudio|bing image creator|chatgpt|"
    r"gpt-4o|openai|gemini|grok|sora|runwayml|kling|hailuo|diffusionbee|draw things)\b",
    re.IGNORECASE,
)
"""Names of image generators and their front ends, as they appear in software fields."""

GENERATION_CHUNKS = {
    "parameters": "generation parameters of a Stable Diffusion web UI (AUTOMATIC1111, Forge and forks)",
    "prompt": "a ComfyUI prompt graph",
    "workflow": "a ComfyUI workflow",
    "invokeai_metadata": "InvokeAI generation metadata",
    "invokeai_graph": "an InvokeAI generation graph",
    "sd-metadata": "InvokeAI (legacy) generation metadata",
    "dream": "an InvokeAI (legacy) dream command",
}
"""PNG text chunk keywords (lower case) that generators write, and who writes them."""

PARAMETER = re.compile(r"\b(steps|sampler|cfg[ _]?scale|seed|model hash|negative prompt)\"?\s*:", re.IGNORECASE)
"""Keys of generation settings, in A1111's "Steps: 20, Sampler: …" text or in JSON."""


def source_type_marker(value: str) -> Marker:
    """The XMP `Iptc4xmpExt:DigitalSourceType` as a marker, AI or not (a capture claim is a lead too)."""
    meaning, ai = source_types.describe(value)
    return Marker("XMP Iptc4xmpExt:DigitalSourceType", shorten(value, VALUE_LIMIT), meaning, ai)


def generator_markers(fields: Iterable[tuple[str, str]], texts: dict[str, str]) -> list[Marker]:
    """Markers from `fields`, (exact source, value) pairs of software and comment fields, and from
    `texts`, a PNG's text chunks by keyword."""
    markers = [_field_marker(source, value) for source, value in fields]
    for keyword, text in texts.items():
        source = f"PNG text chunk '{keyword}'"
        meaning = GENERATION_CHUNKS.get(keyword.lower())
        if meaning and text.strip():
            markers.append(Marker(source, shorten(text.strip(), VALUE_LIMIT), meaning, True))
        else:
            markers.append(_field_marker(source, text))
    return [m for m in markers if m is not None]


def _field_marker(source: str, value: str) -> Marker | None:
    """A generator's name, or at least two generation settings, in one field; else None."""
    generator = GENERATORS.search(value)
    if generator:
        return Marker(source, shorten(value.strip(), VALUE_LIMIT), f"names the image generator '{generator[0]}'",
                      True)
    settings = list(dict.fromkeys(m.lower() for m in PARAMETER.findall(value)))
    if len(settings) >= 2:
        return Marker(source, shorten(value.strip(), VALUE_LIMIT),
                      f"image generation settings ({', '.join(settings)})", True)
    return None
