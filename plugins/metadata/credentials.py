"""Content Credentials (C2PA): the manifest store, read and validated offline by the official SDK.

A C2PA check answers three questions: was each claim signed by the holder of the named
certificate, are the bytes the active claim binds unchanged since (the hard binding), and does
the certificate chain to one the analyst trusts? It does not say whether the content is true, and a
file without a manifest proves nothing. The SDK (`c2pa-python`) does the parsing and cryptography;
this module only chooses offline settings and turns its JSON into `Claims`.
"""

from __future__ import annotations

import json
import mmap
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import c2pa

from plugins.metadata import source_types
from plugins.metadata.trust_list import TrustList
from plugins.metadata.values import shorten
from workbench.api import Action, Check, Claims, CredentialManifest, CredentialState, Ingredient, Outcome

OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
"""Never fetch a remote manifest or a revocation status: the workbench works offline."""

JUMBF_BOX = re.compile(rb"jumb(?:.{8})?.{4}jumd", re.DOTALL)
"""A JUMBF superbox starting with its description box (ISO/IEC 19566-5), the container of C2PA: between
the two box types, the description box's 4-byte size, after the superbox's 8-byte size when it has one
(an "XL" box, whose 4-byte size field is 1)."""

REMOTE_URL = re.compile(r"remote manifests? from url (\S+)", re.IGNORECASE)

CHECKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Signature", ("claimSignature.",)),
    ("Content hash (hard binding)", ("assertion.dataHash.", "assertion.bmffHash.", "assertion.boxesHash.",
                                     "assertion.collectionHash.")),
    ("Signer certificate", ("signingCredential.",)),
    ("Time stamp", ("timeStamp.",)),
    ("Manifest structure", ("",)),  # every other code: assertion links, claim, ingredients
)  # fmt: skip
"""Validation status codes (C2PA 2.x, §15) grouped into the questions an analyst asks."""

TRUST_CODES = frozenset({"signingCredential.untrusted", "timeStamp.untrusted"})
"""Failures that say "not on the trust list", not "broken"."""

ABSENT_DETAIL = {
    "Time stamp": "no time stamp: the signing time is not attested by a time-stamp authority",
    "Content hash (hard binding)": "no hard binding was checked",
}

SDK_STATES = {"Trusted": CredentialState.TRUSTED, "Valid": CredentialState.VALID}
"""The SDK's overall verdict; anything else ("Invalid") means a check failed."""

BINDINGS = ("c2pa.hash.data", "c2pa.hash.bmff", "c2pa.hash.boxes", "c2pa.hash.collection")


def read_credentials(path: Path, trust: TrustList) -> Claims:
    """The file's Content Credentials validated against `trust`; never raises for a bad file."""
    return replace(_read(path, trust), trust_list=trust.description)


def _read(path: Path, trust: TrustList) -> Claims:
    settings: dict[str, Any] = dict(OFFLINE)
    if trust.pem:
        settings["trust"] = {"trust_anchors": trust.pem}
    with path.open("rb") as stream:
        try:
            reader = c2pa.Reader.try_create(stream, context=c2pa.Context.from_dict(settings))
        except c2pa.C2paError.NotSupported:
            return Claims(CredentialState.UNCHECKED, detail="the C2PA SDK does not read this format")
        except c2pa.C2paError as exc:
            remote = REMOTE_URL.search(str(exc))
            if remote:
                return Claims(CredentialState.REMOTE, detail=remote.group(1))
            return Claims(CredentialState.UNREADABLE, detail=shorten(str(exc), 300))
        if reader is None:
            return _absent(stream)
        with reader:
            store, detailed = json.loads(reader.json()), json.loads(reader.detailed_json())
            state = reader.get_validation_state() or ""
    return Claims(
        state=SDK_STATES.get(state, CredentialState.INVALID),
        manifests=[_manifest(label, store["manifests"][label], detailed) for label in _chain(store)],
        checks=_checks(store),
    )


def _absent(stream: BinaryIO) -> Claims:
    """No manifest per the SDK; a JUMBF box in the file nonetheless means a damaged or foreign one."""
    stream.seek(0, 2)
    if stream.tell() == 0:
        return Claims()
    with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
        box = JUMBF_BOX.search(data)
    if box is None:
        return Claims()
    return Claims(
        CredentialState.UNREADABLE,
        detail=f"a JUMBF box (the container of C2PA manifests) starts at byte {box.start()}, but the C2PA SDK "
        "found no manifest in it",
    )


def _chain(store: dict[str, Any]) -> list[str]:
    """Manifest labels: the active one, then its ingredients' manifests breadth-first, then any other."""
    manifests = store.get("manifests", {})
    order: list[str] = []
    todo = [store["active_manifest"]] if store.get("active_manifest") in manifests else []
    while todo:
        label = todo.pop(0)
        if label in order:
            continue
        order.append(label)
        todo += [i["active_manifest"] for i in manifests[label].get("ingredients", [])
                 if i.get("active_manifest") in manifests]
    return order + [label for label in manifests if label not in order]


def _manifest(label: str, doc: dict[str, Any], detailed: dict[str, Any]) -> CredentialManifest:
    assertions = detailed.get("manifests", {}).get(label, {}).get("assertion_store", {})
    signature = doc.get("signature_info") or {}
    return CredentialManifest(
        label=label,
        title=str(doc.get("title", "")),
        generator=_generator(doc),
        signer=str(signature.get("common_name", "")),
        issuer=str(signature.get("issuer", "")),
        algorithm=str(signature.get("alg", "")),
        signed_at=str(signature.get("time", "")),
        binding="; ".join(
            f"{key}: {value.get('alg', '')} {value.get('hash', '(per box)')}".strip()
            for key, value in assertions.items()
            if key.startswith(BINDINGS) and isinstance(value, dict)
        ),
        actions=[
            _action(action)
            for assertion in doc.get("assertions", [])
            if str(assertion.get("label", "")).startswith("c2pa.actions")
            for action in (assertion.get("data") or {}).get("actions", [])
        ],
        ingredients=[_ingredient(i, assertions.get(i.get("label", ""), {})) for i in doc.get("ingredients", [])],
    )


def _generator(doc: dict[str, Any]) -> str:
    """"Name version" of each claim generator, or the v1 claim's plain string."""
    infos = doc.get("claim_generator_info") or []
    names = [" ".join(str(info[k]) for k in ("name", "version") if info.get(k)) for info in infos]
    return ", ".join(n for n in names if n) or str(doc.get("claim_generator", ""))


def _action(doc: dict[str, Any]) -> Action:
    source = str(doc.get("digitalSourceType", ""))
    meaning, ai = source_types.describe(source) if source else ("", False)
    agent = doc.get("softwareAgent") or ""
    return Action(
        action=str(doc.get("action", "")),
        software=str(agent.get("name", "")) if isinstance(agent, dict) else str(agent),
        source_type=source,
        meaning=meaning,
        declares_ai=ai,
        description=str(doc.get("description", "")),
        when=str(doc.get("when", "")),
    )


def _ingredient(doc: dict[str, Any], assertion: dict[str, Any]) -> Ingredient:
    """The ingredient and the hashes that bind it: its manifest, its claim signature, its data."""
    named = {"manifest": assertion.get("activeManifest") or assertion.get("c2pa_manifest"),
             "claim signature": assertion.get("claimSignature"), "data": assertion.get("data")}
    hashes = [f"{what}: " + " ".join(str(part) for part in (ref.get("alg"), ref["hash"]) if part)
              for what, ref in named.items() if isinstance(ref, dict) and ref.get("hash")]
    if doc.get("hash"):  # v1 ingredients carry the hash of the ingredient's bytes
        hashes.append(f"data: {doc['hash']}")
    results = (doc.get("validation_results") or {}).get("activeManifest") or {}
    failures = results.get("failure") or doc.get("validation_status") or []
    return Ingredient(
        title=str(doc.get("title", "")),
        format=str(doc.get("format", "")),
        relationship=str(doc.get("relationship", "")),
        manifest=str(doc.get("active_manifest", "")),
        hashes=hashes,
        problems=[f"{f.get('code', '')}: {f.get('explanation', '')}" for f in failures],
    )


def _checks(store: dict[str, Any]) -> list[Check]:
    """The active manifest's status codes, one `Check` per question, each code counted once."""
    results = (store.get("validation_results") or {}).get("activeManifest")
    if results is None:  # older stores: only the failures, as a flat list
        results = {"failure": store.get("validation_status") or []}
    entries = [(kind, entry) for kind in ("failure", "success", "informational") for entry in results.get(kind) or []]
    checks, taken = [], set()
    for name, prefixes in CHECKS:
        mine = [(kind, e) for kind, e in entries if id(e) not in taken and str(e.get("code", "")).startswith(prefixes)]
        taken |= {id(e) for _, e in mine}
        failures = [e for kind, e in mine if kind == "failure"]
        if failures:
            untrusted = all(e.get("code") in TRUST_CODES for e in failures)
            outcome = Outcome.UNTRUSTED if untrusted else Outcome.FAILED
        else:
            outcome = Outcome.PASSED if any(kind == "success" for kind, _ in mine) else Outcome.ABSENT
        successes = [e for kind, e in mine if kind == "success"]
        notes = [e for kind, e in mine if kind == "informational"]  # e.g. "OCSP fetching skipped": say it
        detail = "; ".join(t for t in (_joined(failures, 3) if failures else _joined(successes, 1), _joined(notes, 3))
                           if t)
        checks.append(Check(name, outcome, detail or ABSENT_DETAIL.get(name, "")))
    return checks


def _joined(entries: Iterable[dict[str, Any]], most: int) -> str:
    """Distinct explanations joined; past `most`, the rest counted (a manifest links dozens of assertions)."""
    distinct = list(dict.fromkeys(str(e.get("explanation") or e.get("code")) for e in entries))
    more = f" (and {len(distinct) - most} more)" if len(distinct) > most else ""
    return "; ".join(distinct[:most]) + more
