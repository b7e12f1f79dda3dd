"""The map panel (pytest-qt, offscreen): the offline Leaflet page runs in QtWebEngine with nothing
requested from the network, shows provinces and place names zoomed in and countries zoomed out, a
second result replaces the first, the static image takes over (with the reason shown) when the
interactive map is off or fails, and the panel never asks for much room. Screenshots go to the
test's temporary folder; docs/screenshot-map.png is refreshed only when WORKBENCH_UPDATE_SCREENSHOTS
is set."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from plugins.geolocation.mapping import GeoView, GpsFix, MapPoint, ScaleCircle  # noqa: E402
from plugins.geolocation.ui import map_panel  # noqa: E402 - imports QtWebEngineWidgets before the QApplication exists
from plugins.geolocation.ui.map_panel import MapPanel, host_allowed, tile_hosts  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
LOAD_TIMEOUT = 30000
LEUVEN = (50.8798, 4.7005)
"""Where the opencv-doc Leuven photos were taken (their GPS tags)."""


def answered_view() -> GeoView:
    lat, lon = 48.8566, 2.3522
    return GeoView(
        title="Localizable at city scale (25 km), not at street scale (1 km)",
        estimate=MapPoint(lat, lon, "Estimate: Paris, Île-de-France, FR"),
        gps=GpsFix(48.8049, 2.1204, 800.0, 130.0, "2024:05:01 10:02:11", "GPS: Versailles, FR"),
        cells=[(lat + 0.09 * math.sqrt(i) * math.sin(2.4 * i), lon + 0.13 * math.sqrt(i) * math.cos(2.4 * i),
                0.3 / (1 + i)) for i in range(16)],  # a sunflower spiral, most probable at the centre
        circles=[ScaleCircle(lat, lon, r, f"{n} scale {r} km") for r, n in ((25, "city"), (200, "region"))],
    )


def leuven_view() -> GeoView:
    return GeoView(title="GPS in the metadata: Leuven, Belgium",
                   gps=GpsFix(*LEUVEN, 30.0, 45.0, "2013:08:14 13:37:02", "GPS: Leuven, Flanders, BE"))


def abstaining_view() -> GeoView:
    return GeoView(title="Abstains at every scale",
                   abstention="Abstains at every scale: the picture alone does not tell where it was taken.",
                   cells=[(12.0 * i - 50, 33.0 * i - 160, 0.03 / (1 + i)) for i in range(10)])


def run_js(qtbot, panel: MapPanel, script: str) -> object:  # noqa: ANN001 - qtbot fixture
    out: list[object] = []
    panel.web_view.page().runJavaScript(script, 0, out.append)
    qtbot.waitUntil(lambda: bool(out), timeout=5000)
    return out[0]


@pytest.fixture
def panel(qtbot) -> Iterator[MapPanel]:  # noqa: ANN001 - qtbot fixture
    widget = MapPanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 650)
    widget.show()
    yield widget
    widget.release()  # the web page must not outlive the QApplication
    assert widget.web_view is None


def test_interactive_map_runs_offline(qtbot, panel: MapPanel) -> None:  # noqa: ANN001
    if map_panel.WEB_IMPORT_ERROR:
        pytest.skip(map_panel.WEB_IMPORT_ERROR)
    with qtbot.waitSignal(panel.loaded, timeout=LOAD_TIMEOUT) as blocker:
        panel.show_view(answered_view())
    if blocker.args == [False]:
        # QtWebEngine cannot run here; what must work then is the fallback, with its reason shown
        assert panel.mode == "static" and panel.log
        pytest.skip(f"QtWebEngine cannot run in this environment: {panel.log[-1]}")
    assert panel.mode == "web" and not panel.log
    assert run_js(qtbot, panel, "typeof L") == "object"
    assert run_js(qtbot, panel, "L.version") == "1.9.3"
    # every drawn element is a layer of the map: 16 cells + estimate + GPS (circle markers), 2 scale
    # circles + GPS accuracy (L.Circle extends L.CircleMarker); zoomed in, the 1:10m provinces replace
    # the 110m countries, and the place names of this zoom are labelled
    markers = run_js(qtbot, panel, """(function () { var n = 0;
        fwMap.eachLayer(function (l) { if (l instanceof L.CircleMarker) n++; }); return n; })()""")
    assert markers == 16 + 2 + 3
    assert run_js(qtbot, panel, "fwMap.getZoom()") >= 5
    assert run_js(qtbot, panel, "fwMap.hasLayer(fwLayers.detail()) && !fwMap.hasLayer(fwLayers.world)") is True
    assert run_js(qtbot, panel, "fwLayers.detail().getLayers().length") > 4000
    labels = str(run_js(qtbot, panel, """fwLayers.labels.getLayers().map(function (m) {
        return m.getElement().textContent; }).join("|")""")).split("|")
    assert {"Paris", "Argenteuil"} <= set(labels) and "Lyon" not in labels
    bounds = run_js(qtbot, panel, "fwMap.getBounds().contains([48.8566, 2.3522])")
    assert bounds is True
    assert run_js(qtbot, panel, "document.getElementById('fw-legend') !== null") is True
    assert panel.blocked_requests() == [] and panel.console_errors() == []

    # a second result reuses the web view; the abstention banner is on the page
    with qtbot.waitSignal(panel.loaded, timeout=LOAD_TIMEOUT) as blocker:
        panel.show_view(abstaining_view())
    assert blocker.args == [True] and panel.mode == "web"
    assert run_js(qtbot, panel, "document.getElementById('fw-banner').textContent").endswith("taken.")
    assert run_js(qtbot, panel, "fwMap.getZoom()") <= 3  # world view: the 110m countries, capitals and big cities
    countries = run_js(qtbot, panel, """(function () { var n = 0;
        fwMap.eachLayer(function (l) { if (l.feature && l.feature.properties.iso_a3) n++; }); return n; })()""")
    assert countries > 150 and run_js(qtbot, panel, "fwLayers.detail() === null") is True  # never even built
    assert 10 < run_js(qtbot, panel, "fwLayers.labels.getLayers().length") < 150
    panel.clear()
    assert panel.mode == "empty"


def test_map_zoomed_on_a_town_names_it_and_its_neighbours(qtbot, panel: MapPanel, tmp_path: Path) -> None:  # noqa: ANN001
    """The opencv-doc Leuven photos' GPS fix: the view an investigator reads a position by."""
    if map_panel.WEB_IMPORT_ERROR:
        pytest.skip(map_panel.WEB_IMPORT_ERROR)
    with qtbot.waitSignal(panel.loaded, timeout=LOAD_TIMEOUT) as blocker:
        panel.show_view(leuven_view())
    if blocker.args == [False]:
        pytest.skip(f"QtWebEngine cannot run in this environment: {panel.log[-1]}")
    assert 8 <= run_js(qtbot, panel, "fwMap.getZoom()") <= 11
    labels = set(str(run_js(qtbot, panel, """fwLayers.labels.getLayers().map(function (m) {
        return m.getElement().textContent; }).join("|")""")).split("|"))
    assert {"Leuven", "Brussels", "Mechelen", "Aarschot", "Tienen"} <= labels
    region = run_js(qtbot, panel, """(function () { var hit = "";
        fwLayers.detail().eachLayer(function (l) {
            if (l instanceof L.Polygon && l.getBounds().contains([50.8798, 4.7005])) {
                hit += l.getTooltip().getContent() + ";";
            }
        }); return hit; })()""")
    assert "Flemish Brabant, Belgium;" in str(region)
    assert panel.blocked_requests() == [] and panel.console_errors() == []
    qtbot.wait(600)  # let Leaflet finish painting before the screenshot
    shot = panel.grab()
    assert shot.save(str(tmp_path / "screenshot-map.png"))
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        assert shot.save(str(DOCS / "screenshot-map.png"))


@pytest.mark.parametrize("interactive", [False, True])
def test_the_panel_asks_for_little_room_whatever_it_shows(qtbot, interactive: bool) -> None:  # noqa: ANN001
    """Usable at 1366×768 beside the viewer: the map scales to the room it gets, never the other way."""
    panel = MapPanel(interactive=interactive)
    qtbot.addWidget(panel)
    panel.resize(1100, 650)
    panel.show()
    assert panel.minimumSizeHint().width() <= 320 and panel.minimumSizeHint().height() <= 240
    long_view = GeoView(title="A very long title " * 12, abstention="Abstains at every scale. " * 12,
                        gps=GpsFix(*LEUVEN, 30.0, 45.0, "2013:08:14 13:37:02", "GPS: Leuven " * 10))
    with qtbot.waitSignal(panel.loaded, timeout=LOAD_TIMEOUT):
        panel.show_view(long_view)
    hint = panel.minimumSizeHint()
    assert hint.width() <= 320 and hint.height() <= 240, (panel.mode, hint)
    panel.resize(300, 200)  # the static image scales down with it
    qtbot.wait(50)
    if panel.mode == "static":
        pixmap = panel._image.pixmap()
        assert pixmap.width() <= 300 and pixmap.height() <= 200
    panel.release()


def test_static_fallback_when_the_interactive_map_is_off(qtbot) -> None:  # noqa: ANN001
    panel = MapPanel(interactive=False)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    with qtbot.waitSignal(panel.loaded, timeout=10000) as blocker:
        panel.show_view(abstaining_view())
    assert blocker.args == [False] and panel.mode == "static" and panel.web_view is None
    pixmap = panel._image.pixmap()
    assert not pixmap.isNull() and pixmap.width() > 400
    assert "switched off" in panel.log[-1] and panel._status.isVisible()
    panel.clear()
    assert panel.mode == "empty" and panel._image.pixmap().isNull()


def test_static_fallback_when_the_page_cannot_be_built(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    def broken(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("the offline map page references a remote host: 'https://cdn.example'")

    monkeypatch.setattr(map_panel, "folium_html", broken)
    panel = MapPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.loaded, timeout=10000) as blocker:
        panel.show_view(answered_view())
    assert blocker.args == [False] and panel.mode == "static"
    assert "remote host" in panel.log[-1] or map_panel.WEB_IMPORT_ERROR
    assert panel.web_view is None  # the web engine was not even started for a page that cannot be shown


def test_tile_host_patterns() -> None:
    assert tile_hosts(None) == set()
    assert tile_hosts("http://tiles.lan:8080/{z}/{x}/{y}.png") == {"tiles.lan"}
    assert tile_hosts("https://{s}.tile.example.org/{z}/{x}/{y}.png") == {"*.tile.example.org"}
    assert host_allowed("b.tile.example.org", {"*.tile.example.org"})
    assert not host_allowed("tile.example.org.evil.com", {"*.tile.example.org"})
    assert not host_allowed("cdn.jsdelivr.net", {"tiles.lan"})
