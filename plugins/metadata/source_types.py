"""IPTC digital source types: how a picture says it was made (camera, edit, composite, AI model).

The same controlled vocabulary is written in XMP (`Iptc4xmpExt:DigitalSourceType`) and in C2PA
actions (`digitalSourceType`), as a URI ending in a code. Only the two "trained algorithmic" codes
declare generative AI; "algorithmic media" without training data (procedural graphics) does not.
"""

from __future__ import annotations

SOURCE_TYPES: dict[str, tuple[str, bool]] = {
    "digitalCapture": ("original digital capture of a real scene", False),
    "computationalCapture": ("digital capture with computational processing (e.g. a phone's HDR)", False),
    "negativeFilm": ("digitised from a negative film", False),
    "positiveFilm": ("digitised from a positive film or slide", False),
    "print": ("digitised from a print", False),
    "humanEdits": ("captured media edited by a person", False),
    "minorHumanEdits": ("captured media with minor human edits", False),
    "algorithmicallyEnhanced": ("captured media enhanced by an algorithm", False),
    "compositeCapture": ("composite of captured elements", False),
    "compositeSynthetic": ("composite including synthetic elements", False),
    "compositeWithTrainedAlgorithmicMedia": ("composite including content made by a trained AI model", True),
    "trainedAlgorithmicMedia": ("made by a trained AI model (generative AI)", True),
    "algorithmicMedia": ("made by an algorithm without training data (e.g. procedural graphics)", False),
    "digitalArt": ("created by a person with software (digital art)", False),
    "digitalCreation": ("created by a person with software (digital art)", False),
    "dataDrivenMedia": ("rendered from data (e.g. a chart)", False),
    "virtualRecording": ("recording of a virtual event (e.g. a game)", False),
    "screenCapture": ("screen capture", False),
}
"""Code → (meaning, declares generative AI)."""


def describe(value: str) -> tuple[str, bool]:
    """(meaning, declares AI) of a source type URI or bare code; unknown codes are said to be unknown."""
    code = value.strip().rstrip("/").rsplit("/", 1)[-1]
    return SOURCE_TYPES.get(code, (f"unknown source type '{code}'", False))
