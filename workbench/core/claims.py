"""What a file claims about its own origin: Content Credentials (C2PA) and unsigned AI-generation markers.

Plain data, filled by the metadata analyzer and read by the GUI's provenance view, the report and the
triage summary, so that all three say the same thing. Signed claims (C2PA manifests) and unsigned ones
(an XMP field, a PNG text chunk) are kept apart: only the first can be checked, and neither says that
the content is true.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum, StrEnum
from typing import Any


class CredentialState(StrEnum):
    """The outcome of looking for and validating Content Credentials, from worst to best news."""

    ABSENT = "absent"
    """No manifest found, which proves nothing: most software and platforms drop or never write one."""
    UNCHECKED = "unchecked"
    """Not checked: a format the C2PA SDK does not read, or the check itself failed (`detail` says which)."""
    REMOTE = "remote"
    """The file points to a manifest stored online, which is not fetched (offline)."""
    UNREADABLE = "unreadable"
    """A manifest store (JUMBF box) is there but could not be read: damaged, truncated or forged."""
    INVALID = "invalid"
    """Read, and a check failed: signature, content hash (hard binding) or manifest structure."""
    VALID = "valid"
    """Every check passed, but the signer is not on the analyst's trust list (untrusted is not invalid)."""
    TRUSTED = "trusted"
    """Every check passed and the signer's certificate chains to one on the analyst's trust list."""


STATE_TEXT: dict[CredentialState, str] = {
    CredentialState.ABSENT: "no Content Credentials (absence proves nothing)",
    CredentialState.UNCHECKED: "Content Credentials not checked",
    CredentialState.REMOTE: "Content Credentials stored online, not fetched (offline)",
    CredentialState.UNREADABLE: "Content Credentials damaged: present but unreadable",
    CredentialState.INVALID: "signature broken: Content Credentials fail validation",
    CredentialState.VALID: "signed and valid; signer not on your trust list (untrusted, not invalid)",
    CredentialState.TRUSTED: "signed and valid; signer on your trust list",
}
"""One phrase per state, the same in the view, the report and the triage summary."""

LIMITS = ("A valid signature proves who signed (as far as your trust list vouches for the signer) and that the "
          "bytes it covers are unchanged since; not that the scene is real or the manifest's statements true. "
          "Unsigned markers can be written or removed by anyone. No Content Credentials proves nothing.")
"""What a C2PA check proves and what it does not, beside every verdict (the card says more)."""


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    UNTRUSTED = "untrusted"
    """The certificate is sound but does not chain to the trust list: not a failure of the signature."""
    ABSENT = "absent"
    """Nothing to check (e.g. no time stamp)."""


@dataclass
class Check:
    """One validation question (signature, content hash, signer certificate, time stamp, structure)."""

    name: str
    outcome: Outcome
    detail: str = ""


@dataclass
class Action:
    """One entry of a manifest's actions assertion (`c2pa.created`, `c2pa.edited`, …)."""

    action: str
    software: str = ""
    source_type: str = ""
    """The IPTC digital source type, as written (a URI or a bare code)."""
    meaning: str = ""
    """What the source type means, in words."""
    declares_ai: bool = False
    description: str = ""
    when: str = ""


@dataclass
class Ingredient:
    """A file this one was made from, as its manifest records it."""

    title: str
    format: str = ""
    relationship: str = ""
    manifest: str = ""
    """Label of the ingredient's own manifest in the store ("" when it had none)."""
    hashes: list[str] = field(default_factory=list)
    """What binds the ingredient, e.g. "manifest: sha256 7upMJxu…" (the SDK's base64)."""
    problems: list[str] = field(default_factory=list)
    """The ingredient's own validation failures when it was added."""


@dataclass
class Manifest:
    """One signed claim of the manifest store."""

    label: str
    title: str = ""
    generator: str = ""
    """The claim generator: the software that wrote and signed the manifest."""
    signer: str = ""
    issuer: str = ""
    algorithm: str = ""
    signed_at: str = ""
    """The time-stamp authority's time ("" when the signature has no time stamp)."""
    binding: str = ""
    """The hard binding: which bytes the signature covers, e.g. "c2pa.hash.data: sha256 zTBA…"."""
    actions: list[Action] = field(default_factory=list)
    ingredients: list[Ingredient] = field(default_factory=list)


@dataclass
class Marker:
    """An unsigned statement about how the file was made, with the exact field it was read from."""

    source: str
    value: str
    meaning: str
    declares_ai: bool = False


@dataclass
class Claims:
    """Everything a file says about its origin. `manifests` starts with the active manifest, followed
    by the manifests of its ingredients in chain order; `checks` validate the active one."""

    state: CredentialState = CredentialState.ABSENT
    detail: str = ""
    """Why a manifest could not be read, or the URL of a remote one."""
    manifests: list[Manifest] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    trust_list: str = ""
    """Which trust list the signer was checked against (or that none was configured)."""
    markers: list[Marker] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return STATE_TEXT[self.state]

    @property
    def signed(self) -> bool:
        """A manifest was read and validated (whatever the outcome)."""
        return self.state in (CredentialState.INVALID, CredentialState.VALID, CredentialState.TRUSTED)

    def ai_declarations(self) -> list[str]:
        """Where the file declares AI generation, one phrase each, signed manifests first."""
        signed = [
            f"{_source_code(a.source_type)} in {a.action} of {manifest_name(i)}"
            + (f" ({a.software})" if a.software else "")
            for i, m in enumerate(self.manifests)
            for a in m.actions
            if a.declares_ai
        ]
        return signed + [f"{marker.source}: {marker.value}" for marker in self.markers if marker.declares_ai]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Claims:
        """The inverse of `Result.describe()` for this field (enums and nested lists restored)."""
        return _load(cls, doc)


def manifest_name(index: int) -> str:
    """How the view, the report and the findings name the `index`-th manifest of `Claims.manifests`."""
    return "the active manifest" if index == 0 else f"manifest {index + 1} of the chain"


def _source_code(source_type: str) -> str:
    """'trainedAlgorithmicMedia' from 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia'."""
    return source_type.rstrip("/").rsplit("/", 1)[-1]


def _load(cls: type, doc: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in doc:
            continue
        value, hint = doc[f.name], hints[f.name]
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is list else None
        if item is not None and is_dataclass(item):
            value = [_load(item, v) for v in value]
        elif isinstance(hint, type) and issubclass(hint, Enum):
            value = hint(value)
        values[f.name] = value
    return cls(**values)
