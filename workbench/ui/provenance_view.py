"""The provenance section of the metadata tab: what the file claims about its origin.

The verdict comes first in words and colour (untrusted is shown apart from invalid), then each
check, then the manifest chain as a tree (who signed, with what software, which actions, made from
which ingredients and their hashes), then the unsigned markers with the exact field each was read
from, and what all this proves and does not.
"""

from __future__ import annotations

import html

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from workbench.core.claims import LIMITS, Claims, CredentialState, Manifest, Outcome, manifest_name

RED, AMBER, GREEN, GREY = "#b00000", "#9a6700", "#006000", "#555555"

STATE_COLOURS = {
    CredentialState.TRUSTED: GREEN,
    CredentialState.VALID: AMBER,
    CredentialState.INVALID: RED,
    CredentialState.UNREADABLE: RED,
}

OUTCOMES = {
    Outcome.PASSED: ("✓", GREEN, "passed"),
    Outcome.FAILED: ("✗", RED, "failed"),
    Outcome.UNTRUSTED: ("?", AMBER, "untrusted — not on your trust list, which is not invalid"),
    Outcome.ABSENT: ("–", GREY, "not present"),
}


class ProvenanceView(QWidget):
    """Content Credentials and AI-generation markers of one metadata result."""

    def __init__(self, claims: Claims, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        colour = STATE_COLOURS.get(claims.state, GREY)
        detail = f"<br/>{html.escape(claims.detail)}" if claims.detail else ""
        self.verdict = _label(f"<b>Provenance</b> — Content Credentials (C2PA): "
                              f"<b style='color:{colour}'>{html.escape(claims.summary)}</b>{detail}")
        layout.addWidget(self.verdict)
        for check in claims.checks:
            mark, tint, word = OUTCOMES[check.outcome]
            layout.addWidget(_label(f"<span style='color:{tint}'><b>{mark}</b> {html.escape(check.name)}: {word}</span>"
                                    f" <span style='color:{GREY}'>— {html.escape(check.detail)}</span>"))
        if claims.signed:
            layout.addWidget(_label(f"<span style='color:{GREY}'>Trust list: {html.escape(claims.trust_list)}</span>"))
        self.chain = QTreeWidget()
        self.chain.setHeaderLabels(["Manifest chain and markers", "Detail"])
        names = {m.label: manifest_name(i) for i, m in enumerate(claims.manifests)}
        for index, manifest in enumerate(claims.manifests):
            _manifest_item(self.chain, index, manifest, names)
        if claims.markers:
            markers = QTreeWidgetItem(self.chain, ["Unsigned markers", "anyone can write, change or remove these"])
            for marker in claims.markers:
                _leaf(markers, marker.source, f"{marker.value} — {marker.meaning}", marker.declares_ai)
        self.chain.resizeColumnToContents(0)
        self.chain.setColumnWidth(0, min(self.chain.columnWidth(0), 300))
        self.chain.setVisible(self.chain.topLevelItemCount() > 0)
        layout.addWidget(self.chain, 1)
        layout.addWidget(_label(f"<i style='color:{GREY}'>{html.escape(LIMITS)}</i>"))


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


def _leaf(parent: QTreeWidgetItem, key: str, value: str, alarming: bool = False) -> QTreeWidgetItem:
    item = QTreeWidgetItem(parent, [key, value])
    item.setToolTip(1, value)
    if alarming:
        for column in (0, 1):
            item.setForeground(column, QBrush(QColor(RED)))
    return item


def _manifest_item(tree: QTreeWidget, index: int, manifest: Manifest, names: dict[str, str]) -> None:
    """One signed claim: who signed with what software, its actions, its ingredients (their hashes folded,
    and the name of their own manifest in the chain, `names`: label → name), the signature's technical
    details folded."""
    who = f"signed by {manifest.signer or '(no name)'}" + (f" ({manifest.issuer})" if manifest.issuer else "")
    software = f" with {manifest.generator}" if manifest.generator else ""
    item = QTreeWidgetItem(tree, [manifest_name(index).capitalize(),
                                  f"{manifest.title or '(untitled)'} — {who}{software}"])
    actions = QTreeWidgetItem(item, ["Actions", str(len(manifest.actions))])
    for action in manifest.actions:
        words = [action.software, action.description, action.meaning, action.when]
        _leaf(actions, action.action, " — ".join(w for w in words if w), action.declares_ai)
    ingredients = QTreeWidgetItem(item, ["Ingredients", str(len(manifest.ingredients))])
    for ingredient in manifest.ingredients:
        made_from = _leaf(ingredients, ingredient.title or "(untitled)",
                          f"{ingredient.relationship}, {ingredient.format}"
                          + (f" — see {names.get(ingredient.manifest, ingredient.manifest)}" if ingredient.manifest
                             else " — no manifest"))
        for line in ingredient.hashes:
            _leaf(made_from, "hash", line)
        for problem in ingredient.problems:
            _leaf(made_from, "when added", problem)
        made_from.setExpanded(True)
    stamp = manifest.signed_at or "none"
    signature = QTreeWidgetItem(item, ["Signature", f"{manifest.algorithm}; time stamp: {stamp}"])
    _leaf(signature, "Hard binding", manifest.binding or "none")
    _leaf(signature, "Label", manifest.label)
    for group in (item, actions, ingredients):
        group.setExpanded(True)
