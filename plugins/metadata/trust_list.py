"""The analyst's C2PA trust list: a local PEM file of the certificates whose signers they trust.

A signature can be checked without any list; whether its signer deserves trust is the analyst's
decision, so the list is theirs, read from disk and never fetched. The result names the file and
its SHA-256, so a report says which list a "trusted" rests on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

MAX_FILE = 8 * 1024 * 1024
"""Larger files are refused: real trust lists are a few hundred kilobytes."""


@dataclass(frozen=True)
class TrustList:
    pem: str
    """The certificates, "" when none is configured or the file is unusable."""
    description: str
    """Which list was used, for the result: file, SHA-256 and certificates, or why none."""


def load_trust_list(path: str) -> TrustList:
    """The trust list at `path` ("" = none configured); a missing or malformed file is said, never raised."""
    if not path:
        return TrustList("", "none configured (Preferences): every signer is reported as untrusted")
    try:
        if Path(path).stat().st_size > MAX_FILE:
            return TrustList("", f"{path} is over {MAX_FILE >> 20} MB and was not used: signers are untrusted")
        data = Path(path).read_bytes()
        certificates = x509.load_pem_x509_certificates(data)
    except (OSError, ValueError) as exc:
        return TrustList("", f"{path} could not be used ({exc}): every signer is reported as untrusted")
    names = ", ".join(c.subject.rfc4514_string() for c in certificates[:3])
    more = f" and {len(certificates) - 3} more" if len(certificates) > 3 else ""
    return TrustList(
        data.decode("ascii", errors="replace"),
        f"{path} (SHA-256 {hashlib.sha256(data).hexdigest()}): {len(certificates)} certificate(s): {names}{more}",
    )
