"""The map panel (pytest-qt, offscreen): the offline Leaflet page runs in QtWebEngine with nothing
requested from the network, a second result replaces the first, and the static image takes over
(with the reason shown) when the interactive map is off or fails. Saves docs/screenshot-map.png."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from plugins.geolocation.mapping import GeoView, GpsFix, MapPoint, ScaleCircle  # noqa: E402
from workbench.ui import map_panel  # noqa: E402 - imports QtWebEngineWidgets before the QApplication exists
from workbench.ui.map_panel import MapPanel, host_allowed, tile_hosts  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
LOAD_TIMEOUT = 30000


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
    # circles + GPS accuracy (L.Circle extends L.CircleMarker), and the countries
    count = run_js(qtbot, panel, """(function () { var markers = 0, countries = 0;
        fwMap.eachLayer(function (l) { if (l instanceof L.CircleMarker) markers++;
                                       if (l.feature && l.feature.properties.iso_a3) countries++; });
        return markers + ":" + countries; })()""")
    markers, countries = (int(v) for v in str(count).split(":"))
    assert markers == 16 + 2 + 3 and countries > 150
    bounds = run_js(qtbot, panel, "fwMap.getBounds().contains([48.8566, 2.3522])")
    assert bounds is True
    assert run_js(qtbot, panel, "document.getElementById('fw-legend') !== null") is True
    assert panel.blocked_requests() == [] and panel.console_errors() == []
    qtbot.wait(600)  # let Leaflet finish painting before the screenshot
    DOCS.mkdir(exist_ok=True)
    assert panel.grab().save(str(DOCS / "screenshot-map.png"))

    # a second result reuses the web view; the abstention banner is on the page
    with qtbot.waitSignal(panel.loaded, timeout=LOAD_TIMEOUT) as blocker:
        panel.show_view(abstaining_view())
    assert blocker.args == [True] and panel.mode == "web"
    assert run_js(qtbot, panel, "document.getElementById('fw-banner').textContent").endswith("taken.")
    assert run_js(qtbot, panel, "fwMap.getZoom()") <= 3  # world view
    panel.clear()
    assert panel.mode == "empty"


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
