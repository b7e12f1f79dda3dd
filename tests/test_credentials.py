"""Content Credentials (C2PA) and AI-generation markers in the metadata analysis.

Files are signed by the tests themselves (a throw-away CA) and then altered: valid, hash mismatch
after a pixel edit, stripped manifest, untrusted signer; damaged JUMBF boxes never crash the analysis.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from plugins.metadata.analyzer import MetadataAnalyzer
from plugins.metadata.credentials import OFFLINE
from plugins.metadata.trust_list import load_trust_list
from tests.c2pa_signing import EDITED, GENERATED, TestSigner, jpeg_segments, make_signer, sign
from workbench.core import preferences
from workbench.core.claims import Claims, CredentialState, Outcome
from workbench.core.media import open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Facts, Result, Status

IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def signer() -> TestSigner:
    return make_signer()


@pytest.fixture
def trusted(signer: TestSigner, tmp_path: Path) -> Path:
    """The test CA as the analyst's trust list (preferences live in the per-test data folder)."""
    path = tmp_path / "trust-list.pem"
    path.write_bytes(signer.ca_pem)
    preferences.update(c2pa_trust_list=str(path))
    return path


def picture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:64, 0:96] / 96
    return np.stack([np.sin(2 * np.pi * f * (x + y)) * 100 + 128 for f in rng.uniform(0.5, 2, 3)], -1).astype(np.uint8)


def encoded(pixels: np.ndarray, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def analyse(folder: Path, data: bytes, name: str = "evidence.jpg") -> Facts:
    path = folder / name
    path.write_bytes(data)
    analyzer = MetadataAnalyzer()
    result = run_analyzer(analyzer, open_media(path), analyzer.params_from({}), RunContext())
    assert result.status is Status.OK, result.message
    assert isinstance(result, Facts) and result.claims is not None
    return result


def check(claims: Claims, name: str) -> Outcome:
    return next(c.outcome for c in claims.checks if c.name == name)


# -- the four cases of the issue --------------------------------------------------------------------


def test_valid_signature_from_a_trusted_signer(tmp_path: Path, signer: TestSigner, trusted: Path) -> None:
    result = analyse(tmp_path, sign(encoded(picture()), "image/jpeg", signer))
    claims = result.claims
    assert claims.state is CredentialState.TRUSTED
    assert [check(claims, n) for n in ("Signature", "Content hash (hard binding)", "Signer certificate")] == [
        Outcome.PASSED] * 3
    assert check(claims, "Time stamp") is Outcome.ABSENT  # signed without a time-stamp authority (offline)
    assert str(trusted) in claims.trust_list and "1 certificate(s)" in claims.trust_list
    (active,) = claims.manifests
    assert (active.signer, active.generator, active.title) == ("Test Signer", "Test Generator 1.0", "generated.jpg")
    assert active.binding.startswith("c2pa.hash.data: sha256 ")
    assert [(a.action, a.software, a.declares_ai) for a in active.actions] == [("c2pa.created", "Model X", True)]
    assert "present and valid" in result.findings[0] and "chains to your trust list" in result.findings[0]
    assert "declares AI generation" in result.findings[1] and "trainedAlgorithmicMedia" in result.findings[1]


def test_pixel_edit_breaks_the_content_hash(tmp_path: Path, signer: TestSigner, trusted: Path) -> None:
    """An editor that keeps the manifest while changing pixels: the signature holds, the hash does not."""
    signed = sign(encoded(picture()), "image/jpeg", signer)
    pixels = picture()
    pixels[10:30, 20:50] = 255
    edit = encoded(pixels)
    manifest = b"".join(segment for _, segment in jpeg_segments(signed, 0xEB))
    first = jpeg_segments(signed, 0xEB)[0][0]  # the manifest goes back where the signer put it
    result = analyse(tmp_path, edit[:first] + manifest + edit[first:])
    claims = result.claims
    assert claims.state is CredentialState.INVALID
    assert check(claims, "Content hash (hard binding)") is Outcome.FAILED
    assert check(claims, "Signature") is Outcome.PASSED
    assert "fail validation" in result.findings[0] and "Content hash" in result.findings[0]


def test_stripped_manifest_proves_nothing(tmp_path: Path, signer: TestSigner, trusted: Path) -> None:
    signed = sign(encoded(picture()), "image/jpeg", signer)
    resaved = encoded(np.asarray(Image.open(io.BytesIO(signed))))  # re-encoding drops the APP11 segments
    result = analyse(tmp_path, resaved)
    assert result.claims.state is CredentialState.ABSENT
    assert "absence proves nothing" in result.claims.summary
    assert not [f for f in result.findings if "Content Credentials" in f or "AI generation" in f]


def test_untrusted_signer_is_valid_not_invalid(tmp_path: Path, signer: TestSigner) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(make_signer().ca_pem)
    for trust_list in ("", str(other)):  # none configured, and a list without this signer's CA
        preferences.update(c2pa_trust_list=trust_list)
        claims = analyse(tmp_path, sign(encoded(picture()), "image/jpeg", signer)).claims
        assert claims.state is CredentialState.VALID, trust_list
        assert check(claims, "Signer certificate") is Outcome.UNTRUSTED
        assert check(claims, "Signature") is check(claims, "Content hash (hard binding)") is Outcome.PASSED
        assert "untrusted, not invalid" in claims.summary


# -- chain, formats, offline, round trip --------------------------------------------------------------


def test_chain_of_manifests_with_ingredient_hashes(tmp_path: Path, signer: TestSigner, trusted: Path) -> None:
    parent = sign(encoded(picture(1)), "image/jpeg", signer)
    claims = analyse(tmp_path, sign(encoded(picture(2)), "image/jpeg", signer, EDITED, parent=parent)).claims
    assert claims.state is CredentialState.TRUSTED
    active, earlier = claims.manifests
    assert [a.action for a in active.actions] == ["c2pa.opened", "c2pa.edited"]
    (ingredient,) = active.ingredients
    assert (ingredient.title, ingredient.relationship, ingredient.manifest) == ("parent.jpg", "parentOf",
                                                                                 earlier.label)
    assert any(h.startswith("manifest: sha256 ") for h in ingredient.hashes)
    assert earlier.actions[0].declares_ai and not any(a.declares_ai for a in active.actions)
    assert claims.ai_declarations() == ["trainedAlgorithmicMedia in c2pa.created of manifest 2 of the chain (Model X)"]


@pytest.mark.parametrize(("fmt", "mime", "name"), [("PNG", "image/png", "a.png"), ("WEBP", "image/webp", "a.webp"),
                                                   ("TIFF", "image/tiff", "a.tif")])
def test_other_image_formats(tmp_path: Path, signer: TestSigner, trusted: Path, fmt: str, mime: str,
                             name: str) -> None:
    claims = analyse(tmp_path, sign(encoded(picture(), fmt), mime, signer), name).claims
    assert claims.state is CredentialState.TRUSTED, claims.detail


def test_signed_video(tmp_path: Path, signer: TestSigner, trusted: Path) -> None:
    plain = tmp_path / "plain.mp4"
    writer = cv2.VideoWriter(str(plain), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(10):
        writer.write(np.full((48, 64, 3), i * 20, np.uint8))
    writer.release()
    claims = analyse(tmp_path, sign(plain.read_bytes(), "video/mp4", signer), "signed.mp4").claims
    assert claims.state is CredentialState.TRUSTED
    assert claims.manifests[0].binding.startswith("c2pa.hash.bmff")


def test_remote_manifest_is_not_fetched(tmp_path: Path, signer: TestSigner) -> None:
    """The SDK is told never to fetch: a manifest stored at a URL is reported, not downloaded."""
    import c2pa

    assert OFFLINE["verify"] == {"remote_manifest_fetch": False, "ocsp_fetch": False}
    builder = c2pa.Builder(GENERATED, context=c2pa.Context.from_dict(OFFLINE))
    builder.set_no_embed()
    builder.set_remote_url("http://127.0.0.1:9/manifest.c2pa")  # the discard port: nothing listens
    out = io.BytesIO()
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, signer.chain_pem, signer.key_pem, None)
    builder.sign(c2pa.Signer.from_info(info), "image/jpeg", io.BytesIO(encoded(picture())), out)
    result = analyse(tmp_path, out.getvalue())
    assert result.claims.state is CredentialState.REMOTE
    assert result.claims.detail == "http://127.0.0.1:9/manifest.c2pa"
    assert "not fetched" in result.findings[0]


def test_claims_survive_the_json_round_trip(tmp_path: Path, signer: TestSigner, trusted: Path) -> None:
    parent = sign(encoded(picture(1)), "image/jpeg", signer)
    result = analyse(tmp_path, sign(encoded(picture(2)), "image/jpeg", signer, EDITED, parent=parent))
    doc = json.loads(json.dumps(result.save(tmp_path / "blob")))
    assert doc["claims"]["state"] == "trusted"
    loaded = Result.load(doc, tmp_path / "blob")
    assert isinstance(loaded, Facts) and loaded.claims == result.claims
    assert loaded.claims.checks[0].outcome is Outcome.PASSED


# -- damaged JUMBF: the robustness corpus -------------------------------------------------------------


def test_damaged_manifest_is_a_clear_finding(tmp_path: Path, signer: TestSigner) -> None:
    signed = sign(encoded(picture()), "image/jpeg", signer)
    at, _ = jpeg_segments(signed, 0xEB)[0]
    damaged = bytearray(signed)
    damaged[at + 40 : at + 48] = b"\xde\xad\xbe\xef" * 2  # inside the first box of the manifest store
    result = analyse(tmp_path, bytes(damaged))
    assert result.claims.state is CredentialState.UNREADABLE
    assert "cannot be read" in result.findings[0] and result.claims.detail in result.findings[0]


def test_jumbf_box_without_a_manifest_is_found(tmp_path: Path) -> None:
    """A JUMBF box the SDK does not take for C2PA (here: one with a bogus length) is not silently 'absent'."""
    box = struct.pack(">I", 0xFFFFFF) + b"jumb" + struct.pack(">I", 17) + b"jumd" + bytes(9)
    payload = b"JP" + struct.pack(">HI", 1, 1) + box
    plain = encoded(picture())
    result = analyse(tmp_path, plain[:2] + b"\xff\xeb" + struct.pack(">H", len(payload) + 2) + payload + plain[2:])
    assert result.claims.state is CredentialState.UNREADABLE
    assert "JUMBF box" in result.claims.detail and "cannot be read" in result.findings[0]


def test_random_damage_to_the_manifest_never_fails(tmp_path: Path, signer: TestSigner) -> None:
    signed = sign(encoded(picture()), "image/jpeg", signer)
    segments = jpeg_segments(signed, 0xEB)
    start, end = segments[0][0] + 4, segments[-1][0] + len(segments[-1][1])
    rng = np.random.default_rng(19)
    states = set()
    for _ in range(25):
        damaged = bytearray(signed)
        for pos in rng.integers(start, end, size=3):
            damaged[pos] = rng.integers(0, 256)
        result = analyse(tmp_path, bytes(damaged))
        states.add(result.claims.state)
        if result.claims.state in (CredentialState.UNREADABLE, CredentialState.INVALID):
            assert "Content Credentials" in result.findings[0]
    assert states - {CredentialState.VALID}, "the damage should be noticed at least once"


# -- unsigned markers ---------------------------------------------------------------------------------


def xmp_app1(source_type: str) -> bytes:
    packet = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              f'<rdf:Description xmlns:Iptc4xmpExt="{IPTC_EXT}" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
              f'xmp:CreatorTool="Midjourney v6"><Iptc4xmpExt:DigitalSourceType rdf:resource="{source_type}"/>'
              "</rdf:Description></rdf:RDF></x:xmpmeta>").encode()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + packet
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def test_xmp_digital_source_type_and_generator_name(tmp_path: Path) -> None:
    plain = encoded(picture())
    source = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    result = analyse(tmp_path, plain[:2] + xmp_app1(source) + plain[2:])
    markers = {m.source: m for m in result.claims.markers}
    assert markers["XMP Iptc4xmpExt:DigitalSourceType"].value == source
    assert markers["XMP Iptc4xmpExt:DigitalSourceType"].declares_ai
    assert "midjourney" in markers["XMP xmp:CreatorTool"].meaning.lower()
    assert result.claims.state is CredentialState.ABSENT  # unsigned markers are not credentials
    (declared,) = [f for f in result.findings if "declares AI generation" in f]
    assert "XMP Iptc4xmpExt:DigitalSourceType: " + source in declared and "XMP xmp:CreatorTool" in declared


def test_capture_source_type_is_a_lead_not_ai(tmp_path: Path) -> None:
    plain = encoded(picture())
    result = analyse(tmp_path, plain[:2] + xmp_app1("http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture")
                     + plain[2:])
    (marker,) = [m for m in result.claims.markers if m.source.endswith("DigitalSourceType")]
    assert not marker.declares_ai and "digital capture" in marker.meaning
    assert any(f.startswith("XMP Iptc4xmpExt:DigitalSourceType reads") and "Unsigned" in f for f in result.findings)


def test_png_generation_parameters(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat on the moon\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42")
    info.add_text("Comment", '{"steps": 28, "sampler": "k_euler", "seed": 1}')
    info.add_text("Title", "Holiday")
    claims = analyse(tmp_path, encoded(picture(), "PNG", pnginfo=info), "a.png").claims
    markers = {m.source: m for m in claims.markers}
    assert set(markers) == {"PNG text chunk 'parameters'", "PNG text chunk 'Comment'"}
    assert "Stable Diffusion web UI" in markers["PNG text chunk 'parameters'"].meaning
    assert markers["PNG text chunk 'Comment'"].meaning == "image generation settings (steps, sampler, seed)"


def test_trust_list_problems_are_said(tmp_path: Path) -> None:
    garbage = tmp_path / "list.pem"
    garbage.write_text("not a certificate")
    assert "could not be used" in load_trust_list(str(garbage)).description
    assert "could not be used" in load_trust_list(str(tmp_path / "missing.pem")).description
    assert load_trust_list("").pem == "" and "none configured" in load_trust_list("").description


# -- triage, report -----------------------------------------------------------------------------------


def test_triage_puts_origin_claims_first(tmp_path: Path, signer: TestSigner, trusted: Path) -> None:
    from workbench.app.case import Run
    from workbench.app.triage import ranked_signals

    scored = Result("ela", score=0.9, calibration={"rank": 0.99, "text": "higher than 99 %"})
    plain = Facts("metadata", findings=["No EXIF metadata at all"], claims=Claims())
    valid = analyse(tmp_path, sign(encoded(picture()), "image/jpeg", signer))
    broken = bytearray(sign(encoded(picture()), "image/jpeg", signer))
    broken[-100] ^= 0x55  # a byte of the picture's data
    invalid = analyse(tmp_path, bytes(broken))
    runs = [Run(i, 1, result, "") for i, result in enumerate((scored, plain, valid, invalid))]
    signals = ranked_signals(runs)
    assert [s.run.id for s in signals] == [2, 3, 0, 1]
    assert signals[0].reading.startswith("signed and valid; signer on your trust list; declares AI generation (")
    assert signals[1].reading.startswith("signature broken") and signals[1].strong
    assert not signals[3].leading and signals[3].reading.startswith("1 finding(s)")


def test_report_shows_the_chain(tmp_path: Path, signer: TestSigner, trusted: Path) -> None:
    from workbench.app.report.origin import claims_html

    parent = sign(encoded(picture(1)), "image/jpeg", signer)
    child = sign(encoded(picture(2)), "image/jpeg", signer, EDITED, parent=parent)
    result = analyse(tmp_path, child)
    page = claims_html(result.claims)
    for text in ("signed and valid; signer on your trust list", "the active manifest", "manifest 2 of the chain",
                 "c2pa.edited: retouched", "made by a trained AI model", "manifest: sha256 ", "Content hash",
                 "No Content Credentials proves nothing"):
        assert text in page, text
    jpeg_rows = dict(result.table("JPEG").rows)
    assert jpeg_rows[f"APP11 @ {jpeg_segments(child, 0xEB)[0][0]}"].startswith("JUMBF")


# -- the provenance section of the GUI --------------------------------------------------------------


def test_provenance_section_in_the_metadata_tab(qtbot: object, tmp_path: Path, signer: TestSigner,
                                                trusted: Path) -> None:
    """A signed edit of an AI-generated photo, as the analyst sees it (docs/screenshot-provenance.png
    is refreshed only when WORKBENCH_UPDATE_SCREENSHOTS is set)."""
    from PySide6.QtWidgets import QSplitter

    from workbench.app.case import Case
    from workbench.app.sample import load_photo
    from workbench.ui.main_window import MainWindow
    from workbench.ui.provenance_view import ProvenanceView

    photo = load_photo("coffee.png")
    retouched = photo.copy()
    retouched[..., 2] = np.clip(retouched[..., 2].astype(int) + 25, 0, 255)
    parent = sign(encoded(photo, quality=90), "image/jpeg", signer)
    path = tmp_path / "coffee-signed.jpg"
    path.write_bytes(sign(encoded(retouched, quality=90), "image/jpeg", signer, EDITED, parent=parent))
    case = Case.create(tmp_path / "case", name="Content Credentials")
    evidence = case.add_evidence(path)
    analyzer = MetadataAnalyzer()
    case.save_result(evidence.id, run_analyzer(analyzer, open_media(path), analyzer.params_from({}), RunContext()))
    window = MainWindow(case)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    window.evidence.select(evidence.id)
    qtbot.waitUntil(lambda: window.tabs.count() > 1, timeout=10000)
    window.tabs.setCurrentIndex(next(i for i in range(window.tabs.count()) if window.tabs.tabText(i) == "Metadata"))
    view = window.tabs.currentWidget().findChild(ProvenanceView)
    assert "signed and valid; signer on your trust list" in view.verdict.text()
    active = view.chain.topLevelItem(0)
    assert active.text(0) == "The active manifest" and "Test Signer" in active.text(1)
    labels = [view.chain.topLevelItem(i).text(0) for i in range(view.chain.topLevelItemCount())]
    assert labels == ["The active manifest", "Manifest 2 of the chain"]
    assert window.summary.signals.item(0).text().startswith("● Metadata: signed and valid")
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        splitter = window.tabs.currentWidget()
        assert isinstance(splitter, QSplitter)
        splitter.setSizes([560, 200])
        qtbot.wait(100)
        window.grab().save(str(DOCS / "screenshot-provenance.png"))
    window.close()


def test_trust_list_is_chosen_in_the_preferences(qtbot: object, tmp_path: Path) -> None:
    from workbench.ui.preferences_dialog import PreferencesDialog

    dialog = PreferencesDialog()
    qtbot.addWidget(dialog)
    dialog.trust_list.setText(f" {tmp_path / 'newsroom.pem'} ")
    dialog.accept()
    assert preferences.load().c2pa_trust_list == str(tmp_path / "newsroom.pem")


def test_card_says_what_a_c2pa_check_proves() -> None:
    card = MetadataAnalyzer().card
    for text in ("What a C2PA check proves, and what it does not", "Untrusted is not invalid",
                 "No Content Credentials* **proves nothing**", "offline"):
        assert text in card, text


def test_unsupported_format_is_not_checked(tmp_path: Path) -> None:
    result = analyse(tmp_path, encoded(picture(), "BMP"), "a.bmp")
    assert result.claims.state is CredentialState.UNCHECKED and "does not read" in result.claims.detail
    assert "not checked" in result.claims.summary
    assert not [f for f in result.findings if "Content Credentials" in f]
