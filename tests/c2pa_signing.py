"""Content Credentials made by the tests themselves: a throw-away CA and signer, and files signed with
the official SDK (no time-stamp authority: nothing leaves the machine)."""

from __future__ import annotations

import datetime
import io
import struct
from dataclasses import dataclass
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"

GENERATED = {
    "claim_generator_info": [{"name": "Test Generator", "version": "1.0"}],
    "title": "generated.jpg",
    "assertions": [{"label": "c2pa.actions", "data": {"actions": [
        {"action": "c2pa.created", "digitalSourceType": AI_SOURCE, "softwareAgent": {"name": "Model X"}}]}}],
}  # fmt: skip
"""A manifest that declares the picture made by a generative model."""


@dataclass(frozen=True)
class TestSigner:
    ca_pem: bytes
    """The root certificate: the trust list that makes this signer trusted."""
    chain_pem: bytes
    key_pem: bytes

    __test__ = False  # not a pytest test class


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Workbench Test CA")])


def make_signer(common_name: str = "Test Signer") -> TestSigner:
    """A fresh root CA and an end-entity signing certificate (ES256) with the extensions C2PA asks for."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def certificate(subject: str, public_key: Any, ca: bool) -> x509.CertificateBuilder:
        usage = dict.fromkeys(("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                               "encipher_only", "decipher_only"), False)
        return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name("Test Root CA"))
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **usage),
                               critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))

    root = certificate("Test Root CA", ca_key.public_key(), ca=True).sign(ca_key, hashes.SHA256())
    leaf = (certificate(common_name, key.public_key(), ca=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return TestSigner(
        root.public_bytes(pem),
        leaf.public_bytes(pem) + root.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def sign(data: bytes, mime: str, signer: TestSigner, manifest: dict[str, Any] | None = None,
         parent: bytes | None = None) -> bytes:
    """`data` with a manifest signed by `signer`; `parent` (a signed JPEG) becomes its parent ingredient."""
    context = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
                                      "builder": {"thumbnail": {"enabled": False}}})
    builder = c2pa.Builder(manifest or GENERATED, context=context)
    if parent is not None:
        builder.add_ingredient({"title": "parent.jpg", "relationship": "parentOf", "label": "parent"},
                               "image/jpeg", io.BytesIO(parent))
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, signer.chain_pem, signer.key_pem, None)
    out = io.BytesIO()
    builder.sign(c2pa.Signer.from_info(info), mime, io.BytesIO(data), out)
    return out.getvalue()


EDITED = {
    "claim_generator_info": [{"name": "Test Editor", "version": "2.0"}],
    "assertions": [{"label": "c2pa.actions", "data": {"actions": [
        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}},
        {"action": "c2pa.edited", "description": "retouched"}]}}],
}  # fmt: skip
"""A manifest for an edit of a signed file (given to `sign` as `parent`)."""


def jpeg_segments(data: bytes, marker: int) -> list[tuple[int, bytes]]:
    """(offset, whole segment) of each `marker` segment before the image data of a JPEG."""
    found, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if data[pos + 1] == marker:
            found.append((pos, data[pos : pos + 2 + length]))
        pos += 2 + length
    return found

