"""The analyst's preferences (name, organisation, pixel limit, map tiles, C2PA trust list, compute device,
where search collections keep their vectors),
shared by the GUI and the CLI.

Kept as JSON in the user data folder, Qt-free, so a report made by `workbench analyze` names the
same analyst as one exported from the window. A damaged file is ignored (defaults), never fatal.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from workbench.core.media import DEFAULT_MAX_PIXELS
from workbench.core.paths import data_dir

FILE_NAME = "preferences.json"
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Preferences:
    analyst: str = ""
    """The analyst's name as it should appear in reports and the audit log ("" = the OS account)."""
    organisation: str = ""
    max_pixels: int = DEFAULT_MAX_PIXELS
    """Images above this many pixels are refused at import (decompression-bomb guard)."""
    tile_url: str = ""
    """The analyst's own map tile server ("" = none: maps use the bundled data only, offline)."""
    c2pa_trust_list: str = ""
    """A PEM file of the certificates whose Content Credentials signers the analyst trusts ("" = none:
    signatures are still checked, every signer is reported as untrusted). Read locally, never fetched."""
    welcomed: bool = False
    """The first-run welcome was shown."""
    device: str = "auto"
    """Where learned models run: "auto" (CUDA, else Apple MPS, else the CPU), "cpu", "cuda" or "mps"
    (`workbench.core.device.resolve_device`)."""
    index_uri: str = ""
    """Where search collections keep their vectors: "" = a FAISS index in each collection's folder; else a
    Milvus server or cluster (`http://host:19530`) or a Milvus Lite database (a path ending in `.db`)
    (docs/scale.md). `workbench index/search --index-uri` overrides it for one command."""


def load() -> Preferences:
    try:
        doc = json.loads((data_dir() / FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Preferences()
    if not isinstance(doc, dict):
        return Preferences()
    defaults = Preferences()
    values: dict[str, Any] = {}
    for f in fields(Preferences):
        value = doc.get(f.name, getattr(defaults, f.name))
        values[f.name] = value if isinstance(value, type(getattr(defaults, f.name))) else getattr(defaults, f.name)
    return Preferences(**values)


def update(**changes: Any) -> Preferences:
    """Change some preferences and save them (written to a temporary file, then renamed)."""
    with _LOCK:
        prefs = replace(load(), **changes)
        path = data_dir() / FILE_NAME
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(prefs), indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    return prefs
