"""What the file's claims about its origin mean for the analyst, as findings that lead the metadata result.

Each finding says what the check proves and what it does not: a valid signature proves who signed
and that the bound bytes are unchanged since, not that the scene is real; a declaration of AI
generation is the file's own statement; no finding at all is said about a file without a manifest,
because absence proves nothing.
"""

from __future__ import annotations

from workbench.api import Claims, CredentialManifest, CredentialState, Outcome

MAX_MARKER_FINDINGS = 5
"""Unsigned markers listed one finding each, at most; the provenance view lists them all."""


def claims_findings(claims: Claims) -> list[str]:
    findings = _credential_findings(claims)
    declared = claims.ai_declarations()
    if declared:
        findings.append(
            f"The file declares AI generation ({'; '.join(declared)}): this is the file's own statement, signed "
            "only where it comes from a valid manifest. A picture without such a declaration may still be "
            "generated: run the synthetic-image detectors."
        )
    findings += [
        f"{marker.source} reads '{marker.value}': {marker.meaning}. Unsigned metadata: anyone can write, "
        "change or remove it, so it is a lead to corroborate."
        for marker in claims.markers[:MAX_MARKER_FINDINGS]
        if not marker.declares_ai
    ]
    return findings


def _credential_findings(claims: Claims) -> list[str]:
    state, active = claims.state, claims.manifests[0] if claims.manifests else None
    if state in (CredentialState.TRUSTED, CredentialState.VALID) and active is not None:
        trust = ("the signer's certificate chains to your trust list" if state is CredentialState.TRUSTED else
                 "the signer is not on your trust list: the signature is sound but says nothing about who the "
                 "signer really is (untrusted is not invalid)")
        return [
            f"Content Credentials (C2PA) are present and valid: {_signed_by(active)}. The content hash matches, so "
            f"the bytes the signature covers are unchanged since signing; {trust}. This proves who signed and "
            "that nothing changed since, not that the scene is real or the claims in the manifest are true."
        ]
    if state is CredentialState.INVALID:
        failed = [f"{c.name}: {c.detail}" for c in claims.checks if c.outcome is Outcome.FAILED]
        return [
            f"Content Credentials (C2PA) fail validation ({'; '.join(failed) or 'see the provenance section'}): "
            "the file was changed after signing (an edit, a re-save by software that kept the manifest), or the "
            "manifest is damaged or forged. Nothing the manifest claims can be relied on."
        ]
    if state is CredentialState.UNREADABLE:
        return [
            f"The file carries Content Credentials (C2PA) that cannot be read ({claims.detail}): damaged, "
            "truncated or crafted. Nothing in them can be verified."
        ]
    if state is CredentialState.REMOTE:
        return [
            f"The file points to Content Credentials stored online ({claims.detail}); they were not fetched because "
            "the workbench works offline. Fetch and check them separately if they matter."
        ]
    return []


def _signed_by(manifest: CredentialManifest) -> str:
    signer = manifest.signer or "an unnamed signer"
    issuer = f" (certificate issued by {manifest.issuer})" if manifest.issuer else ""
    generator = f", written by {manifest.generator}" if manifest.generator else ""
    when = f", time-stamped {manifest.signed_at}" if manifest.signed_at else ", without a time stamp"
    return f"signed by {signer}{issuer}{generator}{when}"
