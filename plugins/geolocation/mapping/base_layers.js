/* Offline base layers of the workbench map (see layers.py for the data, page.py for the page).
 *
 * Below zoom `opt.detailZoom`: the 1:110m countries. From it on: the 1:10m provinces, decoded from
 * their shared arcs (each border drawn once: coast, country border, province border) on a canvas.
 * Place names: those whose label zoom is reached, inside the view; they were spaced when the data
 * was made, so they do not overlap. Everything sits in panes under the analyzer's marks.
 */
/* exported fwBaseLayers */
function fwBaseLayers(map, world, detail, places, opt) {
    "use strict";
    map.createPane("fwBase").style.zIndex = 250;
    var labelPane = map.createPane("fwPlaces");
    labelPane.style.zIndex = 380;
    labelPane.style.pointerEvents = "none";
    var fill = {fillColor: opt.land, fillOpacity: opt.fillOpacity};

    var worldLayer = L.geoJSON(world, {
        pane: "fwBase",
        style: function () { return L.extend({color: opt.border, weight: 0.8}, fill); },
        onEachFeature: function (feature, layer) { layer.bindTooltip(feature.properties.name, {sticky: true}); }
    });

    var detailLayer = null;

    function buildDetail() {
        var scale = detail.scale;
        var arcs = detail.arcs.map(function (a) {
            var pts = [], x = 0, y = 0;
            for (var i = 0; i < a.length; i += 2) {
                x += a[i];
                y += a[i + 1];
                pts.push([y / scale, x / scale]);
            }
            return pts;
        });
        function ring(refs) {
            var out = [];
            refs.forEach(function (r, k) {
                var a = r >= 0 ? arcs[r] : arcs[~r].slice().reverse();
                out = out.concat(k ? a.slice(1) : a);
            });
            return out;
        }
        var renderer = L.canvas({pane: "fwBase", padding: 0.3});
        var group = L.layerGroup();
        detail.regions.forEach(function (r) {
            var label = r.name ? r.name + ", " + r.country : r.country;
            L.polygon(r.polygons.map(function (p) { return p.map(ring); }),
                      L.extend({renderer: renderer, stroke: false}, fill))
                .bindTooltip(label, {sticky: true}).addTo(group);
        });
        opt.lines.forEach(function (kind) {
            L.polyline(detail[kind.name].map(function (i) { return arcs[i]; }),
                       {renderer: renderer, interactive: false, color: kind.color, weight: kind.weight,
                        dashArray: kind.dash || null}).addTo(group);
        });
        return group;
    }

    var labels = L.layerGroup().addTo(map);

    function escapeHtml(text) {
        return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    }

    function showPlaces() {
        labels.clearLayers();
        var zoom = Math.floor(map.getZoom() + 1e-6), bounds = map.getBounds().pad(0.05), shown = 0;
        for (var i = 0; i < places.length && shown < opt.maxLabels; i++) {
            var p = places[i];
            if (p[3] > zoom) { continue; }
            var at = L.latLng(p[2] / 1000, p[1] / 1000);
            if (!bounds.contains(at)) { continue; }
            L.marker(at, {pane: "fwPlaces", interactive: false, keyboard: false, icon: L.divIcon({
                className: "fw-place fw-place-" + p[4], iconSize: null, iconAnchor: [4, 8],
                html: "<i></i>" + escapeHtml(p[0])})}).addTo(labels);
            shown++;
        }
    }

    function update() {
        var detailed = map.getZoom() >= opt.detailZoom;
        if (detailed && !detailLayer) { detailLayer = buildDetail(); }
        var on = detailed ? detailLayer : worldLayer, off = detailed ? worldLayer : detailLayer;
        if (off && map.hasLayer(off)) { map.removeLayer(off); }
        if (!map.hasLayer(on)) { map.addLayer(on); }
        showPlaces();
    }

    map.on("zoomend moveend", update);
    update();
    window.fwLayers = {world: worldLayer, detail: function () { return detailLayer; }, labels: labels};
}
