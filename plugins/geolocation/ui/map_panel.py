"""The map of a geolocation result: an interactive offline Leaflet map, or a static image when that fails.

Contributed as the "Map" tab of `geolocation` results (`plugins/geolocation/manifest.py`, a
`ResultTab`): the window makes one `MapPanel` (`map_tab`) on the first such result, keeps it for the
next ones (the web view starts a browser process), calls `release()` when it closes and
`preferences_changed` when the tile server setting may have changed.

The page comes from `plugins.geolocation.mapping.folium_html`: Leaflet inlined, Natural Earth
boundaries, no tiles. This panel adds a second line of defence so that nothing leaves the machine
even if a page ever did reference a remote host: a private, off-the-record web profile whose
request interceptor blocks every http(s)/ws(s)/ftp request (except to the user's own tile server,
when one is configured), a page that refuses link navigation and pop-up windows, and no access
from the local page to remote URLs.

When QtWebEngine is missing, cannot start (no GPU/OpenGL, no sandbox support), fails to load the
page or crashes, the panel shows `static_map` in a QLabel instead and says why in its status line.

QtWebEngineWidgets must be imported before the QApplication exists: import this module (or
`PySide6.QtWebEngineWidgets`) before creating the application.
"""

from __future__ import annotations

import os
from pathlib import Path

import shiboken6
from PySide6.QtCore import QByteArray, QCoreApplication, Qt, QTemporaryDir, QTimer, QUrl, Signal
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from plugins.geolocation.mapping import GeoView, folium_html, static_map, view_from_result
from workbench.api import Run, load_preferences, to_pixmap

if hasattr(os, "geteuid") and os.geteuid() == 0:
    # Chromium cannot sandbox as root and would abort the whole process; the page is our own
    # offline HTML and the network is blocked below, so run unsandboxed rather than die.
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

WEB_IMPORT_ERROR: str | None = None
try:
    from PySide6.QtWebEngineCore import (
        QWebEnginePage,
        QWebEngineProfile,
        QWebEngineSettings,
        QWebEngineUrlRequestInfo,
        QWebEngineUrlRequestInterceptor,
    )
    from PySide6.QtWebEngineWidgets import QWebEngineView
except ImportError as exc:  # PySide6 built without QtWebEngine, or its libraries missing
    WEB_IMPORT_ERROR = f"QtWebEngine is not available ({exc})"

LOAD_TIMEOUT_MS = 20_000
"""Give up on the interactive map (and show the static one) when the page has not loaded by then."""

MAX_DATA_URL = 2 * 1024 * 1024 - 4096
"""setHtml() sends the page as a percent-encoded data: URL, which Chromium caps at 2 MiB;
larger pages are written to the panel's private temporary folder and loaded from there."""

STATIC_SIZE = (1200, 600)
ALLOWED_SCHEMES = ("data", "blob", "about", "qrc")
"""Schemes a page may use; file: only for the panel's own temporary page."""



def tile_hosts(tile_url: str | None) -> set[str]:
    """Host patterns of a tile URL template: 'tiles.lan', or '*.tile.example.org' for '{s}.tile.example.org'."""
    if not tile_url:
        return set()
    host = tile_url.split("//", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    host = "*" + host[host.index("}") + 1:] if host.startswith("{") and "}" in host else host
    return {host} if host and "{" not in host else set()


def host_allowed(host: str, patterns: set[str]) -> bool:
    host = host.lower()
    return any(host == p or (p.startswith("*.") and host.endswith(p[1:])) for p in patterns)


if WEB_IMPORT_ERROR is None:

    class OfflineInterceptor(QWebEngineUrlRequestInterceptor):
        """Blocks every request that would leave the machine, and records what it blocked."""

        def __init__(self, allowed_hosts: set[str], local_dir: str, parent: QWebEngineProfile) -> None:
            super().__init__(parent)
            self.allowed_hosts = allowed_hosts
            self.local_dir = local_dir
            self.blocked: list[str] = []

        def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:  # noqa: N802 - Qt override
            url = info.requestUrl()
            scheme = url.scheme().lower()
            if scheme in ALLOWED_SCHEMES:
                return
            if scheme == "file" and self.local_dir and url.toLocalFile().startswith(self.local_dir):
                return
            if scheme in ("http", "https") and host_allowed(url.host(), self.allowed_hosts):
                return
            info.block(True)
            self.blocked.append(url.toString())

    class OfflinePage(QWebEnginePage):
        """Stays on the page it was given: no link navigation, no new windows; JS errors are kept."""

        def __init__(self, profile: QWebEngineProfile, parent: QWidget) -> None:
            super().__init__(profile, parent)
            self.console_errors: list[str] = []

        def acceptNavigationRequest(self, url: QUrl, nav_type: QWebEnginePage.NavigationType,  # noqa: N802
                                    is_main_frame: bool) -> bool:
            if nav_type == QWebEnginePage.NavigationType.NavigationTypeLinkClicked:
                return False
            return url.scheme().lower() in ("data", "file", "about")

        def createWindow(self, _type: QWebEnginePage.WebWindowType) -> None:  # noqa: N802 - Qt override
            return None

        def javaScriptConsoleMessage(self, level: QWebEnginePage.JavaScriptConsoleMessageLevel,  # noqa: N802
                                     message: str, line: int, source: str) -> None:
            if level == QWebEnginePage.JavaScriptConsoleMessageLevel.ErrorMessageLevel:
                self.console_errors.append(f"{message} (line {line})")


class MapPanel(QWidget):
    """Shows a GeoView: the interactive offline map when QtWebEngine works, else a static image.

    `loaded(bool)` is emitted once per `show_view`: True when the interactive map is up (Leaflet
    running), False when the static image is shown instead. `log` says why the fallback was taken.
    """

    loaded = Signal(bool)

    def __init__(self, parent: QWidget | None = None, *, tile_url: str | None = None,
                 interactive: bool = True) -> None:
        super().__init__(parent)
        self.tile_url = tile_url or None
        self.interactive = interactive
        self.log: list[str] = []
        self.mode = "empty"
        """'empty', 'loading', 'web' or 'static'."""
        self._view: GeoView | None = None
        self._pixmap: QPixmap | None = None
        self._web: QWebEngineView | None = None  # type: ignore[name-defined]
        self._web_broken: str | None = WEB_IMPORT_ERROR if interactive else "interactive map switched off"
        self._tmp = QTemporaryDir()
        self._generation = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self._fallback(f"the map page did not load within "
                                                           f"{LOAD_TIMEOUT_MS // 1000} s"))

        self._placeholder = QLabel("No geolocation result to map.")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._image = QLabel()
        self._image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._image.setMinimumSize(200, 100)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._placeholder)
        self._stack.addWidget(self._image)
        self._status = QLabel()
        self._status.setWordWrap(True)
        self._status.setStyleSheet("color: #7a5a00; padding: 2px 4px;")
        self._status.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack, 1)
        layout.addWidget(self._status)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.release)

    # -- public API ------------------------------------------------------------------------
    @property
    def view(self) -> GeoView | None:
        return self._view

    @property
    def web_view(self) -> QWebEngineView | None:  # type: ignore[name-defined]
        """The QWebEngineView once created (None while only static maps were shown)."""
        return self._web

    def show_view(self, view: GeoView) -> None:
        """Draw `view`: interactive when possible, else static; `loaded` tells which."""
        self._view = view
        self._timer.stop()
        if self._web_broken is not None:
            self._show_static(view, self._web_broken)
            return
        try:
            page_html = folium_html(view, self.tile_url)
        except Exception as exc:  # noqa: BLE001 - this view has no page (e.g. a remote reference): static map
            self._show_static(view, f"{type(exc).__name__}: {exc}")
            return
        try:
            self._show_web(page_html)
        except Exception as exc:  # noqa: BLE001 - the web engine itself failed: static maps from now on
            self._web_broken = f"{type(exc).__name__}: {exc}"
            self._show_static(view, self._web_broken)

    def show_result(self, run: Run) -> None:
        """The map of a geolocation result (the window's result tab)."""
        self.show_view(view_from_result(run.result))

    def preferences_changed(self, prefs: object) -> None:
        """The next map (a fresh web view) uses the tile server setting now in the preferences."""
        self.release()
        self.tile_url = getattr(prefs, "tile_url", None) or None

    def clear(self) -> None:
        """Back to the placeholder (the web view keeps running, blank, for the next result)."""
        self._view = None
        self._timer.stop()
        self._pixmap = None
        self._image.clear()
        if self._web is not None:
            self._web.setHtml("<html><body></body></html>")
        self._stack.setCurrentWidget(self._placeholder)
        self._status.hide()
        self.mode = "empty"

    def release(self) -> None:
        """Delete the web view, its page and profile now, in that order (also done when the app quits).

        A page that outlives the application's shutdown makes QtWebEngine warn ("Release of profile
        requested but WebEnginePage still not deleted") and can crash at exit. The next
        show_view creates a fresh web view.
        """
        if self._web is None:
            return
        web, self._web = self._web, None
        self._timer.stop()
        if self.mode in ("loading", "web"):
            self.mode = "empty"
            self._stack.setCurrentWidget(self._placeholder)
        if shiboken6.isValid(web):
            shiboken6.delete(web)  # the page is its child, the profile the page's: deleted after it

    def blocked_requests(self) -> list[str]:
        """URLs the interceptor refused (should stay empty: the page references nothing remote)."""
        return list(self._interceptor.blocked) if self._web is not None else []

    def console_errors(self) -> list[str]:
        return list(self._web.page().console_errors) if self._web is not None else []

    # -- interactive map -------------------------------------------------------------------
    def _ensure_web(self) -> QWebEngineView:  # type: ignore[name-defined]
        if self._web is not None:
            return self._web
        profile = QWebEngineProfile()  # no storage name: off the record, nothing written to disk
        self._interceptor = OfflineInterceptor(tile_hosts(self.tile_url),
                                               self._tmp.path() if self._tmp.isValid() else "", profile)
        profile.setUrlRequestInterceptor(self._interceptor)
        view = QWebEngineView()
        page = OfflinePage(profile, view)
        profile.setParent(page)  # the page must be deleted before its profile: a child dies after its parent
        settings = page.settings()
        settings.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, False)
        settings.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessFileUrls, False)
        settings.setAttribute(QWebEngineSettings.WebAttribute.JavascriptCanOpenWindows, False)
        settings.setAttribute(QWebEngineSettings.WebAttribute.PluginsEnabled, False)
        view.setPage(page)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        view.loadFinished.connect(self._load_finished)
        page.renderProcessTerminated.connect(self._render_terminated)
        self._stack.addWidget(view)
        self._web = view
        return view

    def _show_web(self, page_html: str) -> None:
        self._generation += 1
        # The page reports which show_view it belongs to: a late signal from a superseded page is ignored.
        page_html = page_html.replace(
            "</html>", f"<script>window.fwGeneration = {self._generation};</script>\n</html>", 1)
        web = self._ensure_web()
        self.mode = "loading"
        self._stack.setCurrentWidget(web)
        self._status.hide()
        base = QUrl.fromLocalFile(self._tmp.path() + "/") if self._tmp.isValid() else QUrl("about:blank")
        encoded = QByteArray(page_html.encode("utf-8")).toPercentEncoding().size()
        self._timer.start(LOAD_TIMEOUT_MS)
        if encoded + 64 <= MAX_DATA_URL:
            web.setHtml(page_html, base)
        else:
            if not self._tmp.isValid():
                raise RuntimeError("the map page is too large for setHtml and no temporary folder is available")
            path = Path(self._tmp.path()) / "map.html"
            path.write_text(page_html, encoding="utf-8")
            web.load(QUrl.fromLocalFile(str(path)))

    def _load_finished(self, ok: bool) -> None:
        if self.mode != "loading" or self._web is None:
            return  # clear(), or the map is already up
        generation = self._generation
        self._web.page().runJavaScript(
            "(window.fwGeneration || 0) + ':' + (typeof L === 'object' && typeof window.fwMap === 'object')", 0,
            lambda result: self._leaflet_checked(generation, ok, result))

    def _leaflet_checked(self, generation: int, ok: bool, result: object) -> None:
        """Decide once the page of the current show_view has loaded: Leaflet running, or fall back.

        A page replaced while loading reports a failed load too; only the current page's answer
        counts, and the watchdog timer covers a page that never finishes.
        """
        if self.mode != "loading" or generation != self._generation:
            return
        page_generation, _, running = str(result).partition(":")  # a string: PySide6 drops JS arrays
        if page_generation != str(generation):
            return  # still the previous document: wait for the current one (or the watchdog)
        self._timer.stop()
        if ok and running == "true":
            self.mode = "web"
            self.loaded.emit(True)
            return
        errors = "; ".join(self.console_errors()[:2]) or "no error reported"
        self._fallback("the map page failed to load" if not ok else f"Leaflet did not start in the page ({errors})")

    def _render_terminated(self, status: object, code: int) -> None:
        self._web_broken = f"the web engine's render process ended ({getattr(status, 'name', status)}, code {code})"
        if self.mode in ("loading", "web"):
            self._fallback(self._web_broken)

    def _fallback(self, reason: str) -> None:
        self._timer.stop()
        if self._view is not None:
            self._show_static(self._view, reason)

    # -- static map ------------------------------------------------------------------------
    def _show_static(self, view: GeoView, reason: str | None) -> None:
        if reason:
            message = f"Interactive map unavailable: {reason}. Showing a static map."
            self.log.append(message)
            self._status.setText(message)
            self._status.show()
        self._pixmap = to_pixmap(static_map(view, STATIC_SIZE))
        self._rescale()
        self._stack.setCurrentWidget(self._image)
        self.mode = "static"
        self.loaded.emit(False)

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        size = self._image.size()
        if size.width() < 10 or size.height() < 10:
            self._image.setPixmap(self._pixmap)
            return
        self._image.setPixmap(self._pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._rescale()


def map_tab(host: object) -> MapPanel:
    """The "Map" tab of geolocation results (`ResultTab` factory): the tile server from the preferences."""
    return MapPanel(tile_url=load_preferences().tile_url or None)
