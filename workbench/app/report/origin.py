"""What the file claims about its origin, in the report: the Content Credentials verdict and its checks,
the manifest chain (who signed, with what, which actions, from which ingredients), and the unsigned
markers with the exact field each was read from, as the GUI's provenance view shows them."""

from __future__ import annotations

from workbench.app.report.markup import e, table
from workbench.core.claims import LIMITS, Claims, CredentialState, Manifest, manifest_name

STYLE = {CredentialState.TRUSTED: "good", CredentialState.INVALID: "bad", CredentialState.UNREADABLE: "bad"}


def claims_html(claims: Claims) -> str:
    parts = [f"<p><b>Content Credentials:</b> <span class='{STYLE.get(claims.state, '')}'>{e(claims.summary)}</span>"
             + (f" — {e(claims.detail)}" if claims.detail else "") + "</p>"]
    if claims.checks:
        parts.append(table(("Check", "Outcome", "Detail"), [(c.name, c.outcome.value, c.detail) for c in claims.checks],
                           "small", widths=(22, 12, 66)))
    if claims.signed:
        parts.append(f"<p class='note'>Trust list: {e(claims.trust_list)}</p>")
    if claims.manifests:
        parts.append(table(("Manifest", "Signed", "Actions", "Ingredients"),
                           [_manifest_row(i, m) for i, m in enumerate(claims.manifests)], "small", escape=False,
                           widths=(18, 27, 25, 30)))
    if claims.markers:
        parts.append(table(("Unsigned marker (exact field)", "Value", "Meaning"),
                           [(m.source, m.value, m.meaning + (" — declares AI" if m.declares_ai else ""))
                            for m in claims.markers], "small", widths=(25, 45, 30)))
    parts.append(f"<p class='note'>{e(LIMITS)}</p>")
    return "\n".join(parts)


def _manifest_row(index: int, manifest: Manifest) -> tuple[str, str, str, str]:
    name = f"<b>{e(manifest_name(index))}</b><br/>{e(manifest.title)}<br/><span class='tiny'>{e(manifest.label)}</span>"
    signed = "<br/>".join(e(line) for line in (
        f"by {manifest.signer or '(no name)'}" + (f", issued by {manifest.issuer}" if manifest.issuer else ""),
        f"with {manifest.generator or '(unnamed software)'} ({manifest.algorithm})",
        f"time stamp: {manifest.signed_at or 'none'}",
        f"binding: {manifest.binding or 'none'}"))
    actions = "<br/>".join(
        e(a.action + (f" ({a.software})" if a.software else "") + (f": {a.description}" if a.description else ""))
        + (f"<br/><span class='bad'>{e(a.meaning)}</span>" if a.declares_ai else
           f"<br/>{e(a.meaning)}" if a.meaning else "")
        for a in manifest.actions) or "none"
    ingredients = "<br/>".join(
        e(f"{i.title} ({i.relationship or 'ingredient'}, {i.format})")
        + "".join(f"<br/><span class='tiny'>{e(h)}</span>" for h in i.hashes)
        + "".join(f"<br/><span class='note'>when added: {e(p)}</span>" for p in i.problems)
        for i in manifest.ingredients) or "none"
    return name, signed, actions, ingredients
