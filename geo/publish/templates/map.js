/* The interactive map of a plan (城管图): layers, popups, labels, search, phases, layout.
 *
 * CGT.configure(data) receives the page's data (see geo/publish/map_data.py): one table of
 * texts, and per layer columns of indices into it plus the geometry. CGT.init(map) builds the
 * Leaflet layers. Popups and tooltips are built when first needed, always with textContent:
 * names and notes are user data and never become HTML. Layers of many points or zones are
 * drawn on canvases (Bulk, with raster.js); their features are not Leaflet objects, and get
 * an entry (C.byKey) only when looked up.
 */
var CGT = (function () {
  'use strict';
  var C = {entries: [], byKey: {}, bulks: [], phase: '', ready: false, map: null, hlKey: null, labelCount: 0};
  var D = null;

  // A column written as runs (see html.py, _ints): first, length, first, length, ...
  function unrun(v) {
    if (v === null || typeof v !== 'object' || !v.runs) { return v; }
    var r = v.runs, n = 0, k, j, p = 0;
    for (k = 1; k < r.length; k += 2) { n += r[k]; }
    var out = new Int32Array(n);
    for (k = 0; k < r.length; k += 2) {
      for (j = 0; j < r[k + 1]; j++) { out[p++] = r[k] + j; }
    }
    return out;
  }

  C.configure = function (data) {
    D = C.data = data;
    data.layers.forEach(function (Ld) {
      ['id', 'st', 'ph', 'nm'].forEach(function (k) { Ld[k] = unrun(Ld[k]); });
      // Zones around points share the points' coordinates (see html.py, _share_coordinates).
      if (Ld.xy !== undefined) { Ld.x = data.layers[Ld.xy].x; Ld.y = data.layers[Ld.xy].y; }
      Object.keys(Ld.f).forEach(function (k) { Ld.f[k] = unrun(Ld.f[k]); });
    });
    C.phaseByKey = {};
    data.phases.forEach(function (p) { C.phaseByKey[p.k] = p; });
  };

  function txt(i) { return i >= 0 ? D.texts[i] : ''; }
  function col(Ld, name, i) {
    var c = Ld.f[name];
    if (c === undefined) { return -1; }
    return typeof c === 'number' ? c : c[i];
  }
  function at(v, i) { return typeof v === 'number' ? v : v[i]; }
  function el(tag, cls, text, parent) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text) { e.textContent = text; }
    if (parent) { parent.appendChild(e); }
    return e;
  }

  // ---- popups and tooltips ------------------------------------------------------------------

  C.popupNode = function (e) {
    var Ld = D.layers[e.li], i = e.i, root = el('div', 'cgt-pop'), table = null;
    D.popups[Ld.pop].forEach(function (op) {
      var kind = op[0], v;
      if (kind === 'h') {
        el('div', 'cgt-pop-title', txt(col(Ld, op[1], i)), root);
        v = txt(col(Ld, op[2], i));
        if (v) { el('div', 'cgt-pop-kind', v, root); }
        table = null;
      } else if (kind === 'r' || kind === 'rm') {
        v = col(Ld, op[2], i);
        if (v === -2 || (v < 0 && kind === 'r')) { return; }
        if (!table) { table = el('table', 'cgt-pop-table', null, root); }
        var tr = el('tr', null, null, table);
        el('th', null, op[1], tr);
        var td = el('td', null, null, tr);
        if (v >= 0) { td.textContent = txt(v); } else { el('span', 'cgt-muted', '方案未写明', td); }
      } else if (kind === 'b') {
        v = col(Ld, op[1], i);
        if (v < 0) { return; }
        D.lists[v].forEach(function (ci) {
          var c = D.clauses[ci], box = el('div', 'cgt-clause', null, root);
          el('b', null, txt(c[0]), box);
          if (c[1] >= 0) { el('i', null, txt(c[1]), box); }
          box.appendChild(document.createTextNode(txt(c[2])));
        });
        table = null;
      } else if (kind === 's') {
        el('div', 'cgt-pop-sec', op[1], root);
        table = null;
      } else if (kind === 'm') {
        v = col(Ld, op[1], i);
        if (v >= 0) { el('div', 'cgt-muted', txt(v), root); table = null; }
      }
    });
    return root;
  };

  C.name = function (e) { return txt(at(D.layers[e.li].nm, e.i)); };

  C.tipNode = function (e) {
    var Ld = D.layers[e.li], root = el('span', null, txt(col(Ld, 'title', e.i)) || C.name(e));
    el('span', 'cgt-tip-kind', txt(Ld.kl), root);
    return root;
  };

  function bindPopup(e) {
    var layer = e.proxy && e.proxyOn ? e.proxy : e.layer;
    [e.layer, e.proxy].forEach(function (l) {
      if (!l || l.getPopup()) { return; }
      l.bindPopup(function () {
        // Evaluated just before the popup pans into view: keep it clear of the panel and banner.
        var popup = l.getPopup();
        if (popup) { popup.options.autoPanPaddingTopLeft = [C.panelWidth() + 60, 60]; }
        return C.popupNode(e);
      }, POPUP_OPTS);
    });
    return layer;
  }
  C.tooltip = function (key) {
    var e = C.byKey[key];
    if (!e) { return null; }
    if (!e.layer.getTooltip()) {
      e.layer.bindTooltip(function () { return C.tipNode(e); },
                          {sticky: true, direction: 'top', opacity: 0.95, className: 'cgt-tip'});
    }
    return e.layer;
  };
  var POPUP_OPTS = {maxWidth: 440, minWidth: 280, maxHeight: 380, className: 'cgt-popup', autoPanPadding: [30, 30]};
  C.latLng = function (e) {
    var Ld = D.layers[e.li];
    if (e.bulk) { return window.L.latLng(Ld.y[e.i], Ld.x[e.i]); }
    return e.layer.getLatLng ? e.layer.getLatLng() : e.layer.getBounds().getCenter();
  };
  C.openPopup = function (e, latlng) {
    if (e.bulk) {
      var o = window.L.extend({}, POPUP_OPTS, {autoPanPaddingTopLeft: [C.panelWidth() + 60, 60]});
      window.L.popup(o).setLatLng(latlng || C.latLng(e)).setContent(C.popupNode(e)).openOn(C.map);
      return;
    }
    var l = bindPopup(e);
    if (latlng) { l.openPopup(latlng); } else { l.openPopup(); }
  };
  function shown(e) { return e.bulk ? e.bulk.on[e.i] === 1 : e.parent.hasLayer(e.layer); }

  function onFeature(ev) {
    var e = ev.propagatedFrom && ev.propagatedFrom._cgt;
    if (!e) { return; }
    if (ev.type === 'click') {
      C._featureClick = true;
      C.highlight(e.key);
      C.openPopup(e, ev.latlng);
    } else if (ev.type === 'mouseover') {
      var l = ev.propagatedFrom;
      if (!l.getTooltip()) {
        l.bindTooltip(function () { return C.tipNode(e); },
                      {sticky: true, direction: 'top', opacity: 0.95, className: 'cgt-tip'});
        l.openTooltip(ev.latlng);
      }
    }
  }

  // ---- phases ---------------------------------------------------------------------------------

  function overlaps(a, b) {
    // A phase with only a deadline (start '') runs from the beginning; one without an end runs on.
    var aEnd = a.end || '9999-12-31', bEnd = b.end || '9999-12-31';
    return (a.start || '0000-01-01') <= bEnd && (b.start || '0000-01-01') <= aEnd;
  }

  // Is a feature in force in the selected phase? Same plan: by phase id; another plan: by dates.
  C.inForce = function (e, sel) {
    var Ld = D.layers[e.li], si = at(Ld.ph, e.i);
    if (!sel || si < 0) { return true; }
    var ids = D.phsets[si];
    if (Ld.pl === sel.plan) { return ids.indexOf(sel.id) >= 0; }
    for (var i = 0; i < ids.length; i++) {
      var own = C.phaseByKey[Ld.pl + ':' + ids[i]];
      if (own && overlaps(own, sel)) { return true; }
    }
    return false;
  };

  C.setPhase = function (key) {
    var sel = key ? C.phaseByKey[key] : null;
    if (key && !sel) { return; }
    C.phase = sel ? key : '';
    var shown = 0;
    C.entries.forEach(function (e) {
      var on = C.inForce(e, sel);
      var has = e.parent.hasLayer(e.layer);
      if (on && !has) { e.parent.addLayer(e.layer); }
      if (!on && has) {
        e.layer.closePopup();
        e.parent.removeLayer(e.layer);
        if (C.hlKey === e.key) { C.highlight(null); }
      }
      if (on) { shown++; }
    });
    C.bulks.forEach(function (b) { shown += b.setPhase(sel); });
    C.updateProxies();
    C.bulks.forEach(function (b) { b.redraw(); });
    var buttons = document.querySelectorAll('#cgt-panel [data-phase]');
    Array.prototype.forEach.call(buttons, function (b) {
      var active = b.getAttribute('data-phase') === C.phase;
      b.classList.toggle('cgt-active', active);
      b.setAttribute('aria-checked', active ? 'true' : 'false');
    });
    var status = document.getElementById('cgt-phase-status');
    if (status) {
      var what = sel ? '当前：' + sel.name + '（' + sel.dates + '）'
                     : '当前：全部阶段';
      status.textContent = what + '，显示 ' + shown + ' / ' + C.total() + ' 个要素';
    }
    C.shown = shown;
    if (C.ready) { C.updateLabels(); }
  };

  // Small areas and short lines vanish when zoomed out: a dot stands in for each of them while
  // it is under PROXY_PX pixels across (same popup), and only while it is shown.
  var PROXY_PX = 6;
  C.updateProxies = function () {
    if (!C.map) { return; }
    var scale = Math.pow(2, C.map.getZoom());
    C.proxied.forEach(function (e) {
      var show = e.parent.hasLayer(e.layer) && e.size0 * scale < PROXY_PX;
      var has = e.group.hasLayer(e.proxy);
      if (show && !has) { e.group.addLayer(e.proxy); }
      if (!show && has) { e.proxy.closePopup(); e.group.removeLayer(e.proxy); }
      e.proxyOn = show;
    });
  };

  // Features on the page: Leaflet ones (C.entries) and those drawn on canvases (C.bulks).
  C.total = function () {
    return C.bulks.reduce(function (n, b) { return n + b.n; }, C.entries.length);
  };

  C.counts = function () {
    var visible = 0;
    C.entries.forEach(function (e) {
      if (shown(e) && C.map.hasLayer(e.group)) { visible++; }
    });
    C.bulks.forEach(function (b) {
      if (!C.map.hasLayer(b.group)) { return; }
      for (var i = 0; i < b.n; i++) { visible += b.on[i]; }
    });
    return {total: C.total(), visible: visible};
  };

  // ---- highlight, focus ---------------------------------------------------------------------

  // A yellow halo under the chosen feature (its own pane, below every feature).
  C.highlight = function (key) {
    var L = window.L;
    if (C.halo) { C.map.removeLayer(C.halo); C.halo = null; }
    C.hlKey = null;
    var e = key && C.byKey[key];
    if (!e) { return; }
    var o = {pane: 'cgt-halo', interactive: false, className: 'cgt-halo', color: '#ffd60a',
             opacity: 0.95, fill: false, renderer: C.svg, lineCap: 'round', lineJoin: 'round'};
    if (e.bulk) {
      var Ld = D.layers[e.li];
      C.halo = Ld.r ? L.circle(C.latLng(e), L.extend(o, {radius: Ld.r, weight: 10}))
                    : L.circleMarker(C.latLng(e), L.extend(o, {radius: 11, weight: 8}));
      C.halo.addTo(C.map);
      C.hlKey = key;
      return;
    }
    var l = e.layer, w = l.options.weight || 2;
    if (l instanceof L.Circle) {
      C.halo = L.circle(l.getLatLng(), L.extend(o, {radius: l.getRadius(), weight: w + 10}));
    } else if (l instanceof L.CircleMarker) {
      C.halo = L.circleMarker(l.getLatLng(), L.extend(o, {radius: (l.options.radius || 6) + 5, weight: 8}));
    } else if (l instanceof L.Polygon) {
      C.halo = L.polygon(l.getLatLngs(), L.extend(o, {weight: w + 10}));
    } else if (l instanceof L.Polyline) {
      C.halo = L.polyline(l.getLatLngs(), L.extend(o, {weight: w + 10}));
    } else {
      return;
    }
    C.halo.addTo(C.map);
    C.hlKey = key;
  };

  // Show a feature: its layer group on, its phase in force, highlighted, in view, popup open.
  C.focus = function (key) {
    var e = C.byKey[key];
    if (!e) { return false; }
    if (!C.map.hasLayer(e.group)) { C.map.addLayer(e.group); }
    if (!shown(e)) { C.setPhase(''); }
    var l = e.layer, pad = C.padding();
    if (e.bulk) {
      C.map.setView(C.latLng(e), Math.max(C.map.getZoom(), 16), {animate: false});
    } else if (l.getBounds) {
      C.map.fitBounds(l.getBounds(), {maxZoom: 17, paddingTopLeft: pad[0], paddingBottomRight: pad[1],
                                      animate: false});
    } else {
      C.map.setView(l.getLatLng(), Math.max(C.map.getZoom(), 16), {animate: false});
    }
    C.highlight(key);
    C.openPopup(e);
    return true;
  };

  C.panelWidth = function () {
    var c = C.map && C.map.getContainer();
    var p = document.getElementById('cgt-panel');
    return c && p && c.classList.contains('cgt-open') ? p.offsetWidth : 0;
  };

  // Rectangles (container pixels) covered by page furniture: panel, legend, overview map,
  // controls, banner. Labels avoid them and the opening view keeps features out of them.
  C.covered = function () {
    var c = C.map.getContainer(), r0 = c.getBoundingClientRect(), out = [];
    var sel = '#cgt-panel, .cgt-legend, .leaflet-control-minimap, .leaflet-control, #cgt-banner';
    Array.prototype.forEach.call(c.querySelectorAll(sel), function (n) {
      if (n.id === 'cgt-panel' && !c.classList.contains('cgt-open')) { return; }
      var r = n.getBoundingClientRect();
      if (r.width && r.height) {
        out.push({l: r.left - r0.left, t: r.top - r0.top, r: r.right - r0.left, b: r.bottom - r0.top});
      }
    });
    return out;
  };

  // fitBounds padding keeping features clear of the furniture: each covered rectangle pushes
  // the free area in from the side where that costs the smaller share of the map.
  C.padding = function () {
    var c = C.map.getContainer(), w = c.clientWidth, h = c.clientHeight;
    var pad = {l: 12, r: 12, t: 12, b: 12};
    var rects = C.covered().sort(function (a, b) {
      return (b.r - b.l) * (b.b - b.t) - (a.r - a.l) * (a.b - a.t);
    });
    rects.forEach(function (r) {
      // Already outside the free area?
      if (r.r <= pad.l || r.l >= w - pad.r || r.b <= pad.t || r.t >= h - pad.b) { return; }
      var opts = [
        ['l', r.r + 8, (r.r + 8 - pad.l) / w],
        ['r', w - r.l + 8, (w - r.l + 8 - pad.r) / w],
        ['t', r.b + 8, (r.b + 8 - pad.t) / h],
        ['b', h - r.t + 8, (h - r.t + 8 - pad.b) / h]
      ].sort(function (a, b) { return a[2] - b[2]; });
      pad[opts[0][0]] = Math.max(pad[opts[0][0]], opts[0][1]);
    });
    return [[pad.l, pad.t], [pad.r, pad.b]];
  };

  // ---- labels ---------------------------------------------------------------------------------

  var measureCtx = null;
  function textWidth(s) {
    if (!measureCtx) {
      measureCtx = document.createElement('canvas').getContext('2d');
      measureCtx.font = '600 12px ' + D.options.font;
    }
    return measureCtx.measureText(s).width + 6;
  }
  function hits(box, boxes) {
    for (var i = 0; i < boxes.length; i++) {
      var b = boxes[i];
      if (box.l < b.r && box.r > b.l && box.t < b.b && box.b > b.t) { return true; }
    }
    return false;
  }

  // The longest part of a line in container pixels, its length and the point/angle half-way.
  function lineAnchor(layer) {
    var map = C.map, parts = layer.getLatLngs(), best = null, bestLen = -1;
    if (parts.length && !Array.isArray(parts[0])) { parts = [parts]; }
    parts.forEach(function (p) {
      var pts = p.map(function (ll) { return map.latLngToContainerPoint(ll); }), len = 0;
      for (var i = 1; i < pts.length; i++) { len += pts[i].distanceTo(pts[i - 1]); }
      if (len > bestLen) { bestLen = len; best = pts; }
    });
    if (!best || best.length < 2) { return null; }
    var half = bestLen / 2, run = 0;
    for (var i = 1; i < best.length; i++) {
      var seg = best[i].distanceTo(best[i - 1]);
      if (run + seg >= half && seg > 0) {
        var t = (half - run) / seg, a = best[i - 1], b = best[i];
        var ang = Math.atan2(b.y - a.y, b.x - a.x) * 180 / Math.PI;
        if (ang > 90) { ang -= 180; } else if (ang < -90) { ang += 180; }
        return {x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t, len: bestLen, angle: ang};
      }
      run += seg;
    }
    return null;
  }

  function rotatedBox(x, y, w, h, angle) {
    var a = Math.abs(angle) * Math.PI / 180, c = Math.cos(a), s = Math.sin(a);
    var bw = w * c + h * s, bh = w * s + h * c;
    return {l: x - bw / 2, r: x + bw / 2, t: y - bh / 2, b: y + bh / 2};
  }

  // Greedy placement: plan places before others, streets along their line where it is long
  // enough (else beside it), points right/left/above/below; nothing overlaps another label,
  // the furniture or the map's edge.
  C.updateLabels = function () {
    var map = C.map, pane = map.getPane('cgt-labels');
    if (!pane) { return; }
    pane.textContent = '';
    var size = map.getSize(), taken = C.covered(), view = map.getBounds().pad(0.05), n = 0, H = 16;
    var edge = {l: 2, t: 2, r: size.x - 2, b: size.y - 2};
    C.labelled = [];
    C.labelCands.forEach(function (e) {
      if (!e.parent.hasLayer(e.layer) || !map.hasLayer(e.group)) { return; }
      var l = e.layer, name = e.label;
      var inView = l.getBounds ? view.intersects(l.getBounds()) : view.contains(l.getLatLng());
      if (!inView) { return; }
      var w = textWidth(name), tries = [];
      if (e.line) {
        var a = lineAnchor(l);
        if (!a) { return; }
        if (a.len >= w + 16) {
          tries.push({x: a.x, y: a.y, angle: a.angle, cls: 'cgt-label cgt-label-line'});
        } else {
          var off = (l.options.weight || 3) / 2 + H / 2 + 2;
          tries.push({x: a.x, y: a.y - off, angle: 0, cls: 'cgt-label'});
          tries.push({x: a.x, y: a.y + off, angle: 0, cls: 'cgt-label'});
        }
      } else {
        var ll = l.getLatLng ? l.getLatLng() : (e.proxy ? e.proxy.getLatLng() : l.getBounds().getCenter());
        var p = map.latLngToContainerPoint(ll);
        var r = (l.options.radius || 4) + 3;
        if (!(l instanceof window.L.CircleMarker)) {
          var b = l.getBounds(), sw = map.latLngToContainerPoint(b.getSouthWest());
          var ne = map.latLngToContainerPoint(b.getNorthEast());
          if (ne.x - sw.x > w + 8 && sw.y - ne.y > H + 4) {
            tries.push({x: p.x, y: p.y, angle: 0, cls: 'cgt-label cgt-label-area'});
          }
          r = 7;
        }
        tries.push({x: p.x + r + w / 2, y: p.y, angle: 0, cls: 'cgt-label'});
        tries.push({x: p.x - r - w / 2, y: p.y, angle: 0, cls: 'cgt-label'});
        tries.push({x: p.x, y: p.y - r - H / 2, angle: 0, cls: 'cgt-label'});
        tries.push({x: p.x, y: p.y + r + H / 2, angle: 0, cls: 'cgt-label'});
      }
      for (var k = 0; k < tries.length; k++) {
        var t = tries[k], box = rotatedBox(t.x, t.y, w, H, t.angle);
        if (box.l < edge.l || box.t < edge.t || box.r > edge.r || box.b > edge.b || hits(box, taken)) {
          continue;
        }
        taken.push(box);
        var div = el('div', t.cls, name, pane);
        var lp = map.containerPointToLayerPoint([t.x, t.y]);
        div.style.transform = 'translate(' + lp.x.toFixed(1) + 'px,' + lp.y.toFixed(1) + 'px) ' +
          'rotate(' + t.angle.toFixed(1) + 'deg) translate(-50%,-50%)';
        div.setAttribute('data-key', e.key);
        C.labelled.push(e.key);
        n++;
        return;
      }
    });
    C.labelCount = n;
  };

  // ---- search ---------------------------------------------------------------------------------

  var SEARCH_ICON = '<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">' +
    '<circle cx="6.5" cy="6.5" r="4.5" fill="none" stroke="#333" stroke-width="2"/>' +
    '<line x1="10" y1="10" x2="14.5" y2="14.5" stroke="#333" stroke-width="2.2" stroke-linecap="round"/>' +
    '</svg>';

  function searchControl(L) {
    var Search = L.Control.extend({
      options: {position: 'topleft'},
      onAdd: function () {
        // Folded to a button, like the other controls, so that it does not cover popups.
        var div = L.DomUtil.create('div', 'leaflet-bar cgt-search');
        var button = L.DomUtil.create('a', 'cgt-search-button', div);
        button.href = '#';
        button.setAttribute('role', 'button');
        button.title = '搜索地点名称';
        button.setAttribute('aria-label', '搜索地点名称');
        button.innerHTML = SEARCH_ICON;
        var input = L.DomUtil.create('input', '', div);
        input.type = 'search';
        input.placeholder = '搜索地点名称…';
        input.setAttribute('aria-label', '搜索地点名称');
        var list = L.DomUtil.create('ul', '', div);
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        var index = null;  // built on the first query (C.searchIndex)
        var shown = [];
        function fold(open) {
          div.classList.toggle('cgt-search-open', open);
          if (open) { input.focus(); } else { input.value = ''; list.textContent = ''; shown = []; }
        }
        L.DomEvent.on(button, 'click', function (ev) {
          L.DomEvent.preventDefault(ev);
          fold(!div.classList.contains('cgt-search-open'));
        });
        function pick(i) {
          if (!shown[i]) { return; }
          var key = shown[i][2];
          fold(false);
          C.focus(key);
        }
        function run() {
          var q = input.value.trim().toLowerCase();
          list.textContent = '';
          shown = [];
          if (!q) { return; }
          index = index || C.searchIndex();
          var found = [];
          for (var i = 0; i < index.length; i++) {
            var pos = index[i][0].toLowerCase().indexOf(q);
            if (pos >= 0) { found.push([pos === 0 ? 0 : 1, index[i][0].length, i]); }
          }
          // Names starting with the query first, then shorter names; ties keep the index order.
          found.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1] || a[2] - b[2]; });
          shown = found.slice(0, 15).map(function (h) { return index[h[2]]; });
          if (!shown.length) {
            el('li', 'cgt-none', '未找到“' + input.value.trim() + '”', list);
            return;
          }
          shown.forEach(function (r, i) {
            var li = el('li', null, r[0], list);
            el('small', null, r[1], li);
            li.addEventListener('click', function (ev) {
              // The item is removed by pick(); stop the click here or the map would take it as a
              // click on the map and close the popup just opened.
              L.DomEvent.stop(ev);
              pick(i);
            });
          });
        }
        input.addEventListener('input', run);
        input.addEventListener('keydown', function (ev) {
          if (ev.key === 'Enter') { pick(0); }
          if (ev.key === 'Escape') { fold(false); }
        });
        return div;
      }
    });
    return new Search();
  }

  function legendControl(L, el_) {
    var Legend = L.Control.extend({
      options: {position: 'bottomright'},
      onAdd: function () {
        L.DomEvent.disableClickPropagation(el_);
        L.DomEvent.disableScrollPropagation(el_);
        var head = el_.querySelector('.cgt-legend-head');
        head.addEventListener('click', function () {
          C.foldLegend(!el_.classList.contains('cgt-folded'));
          C.updateLabels();
        });
        return el_;
      }
    });
    return new Legend();
  }
  C.foldLegend = function (folded) {
    var l = document.getElementById('cgt-legend');
    if (!l) { return; }
    l.classList.toggle('cgt-folded', folded);
    var head = l.querySelector('.cgt-legend-head');
    head.setAttribute('aria-expanded', folded ? 'false' : 'true');
    head.querySelector('span').textContent = folded ? '▸' : '▾';
  };


  // ---- many points: one canvas per layer ------------------------------------------------------

  // Layers of more than D.options.bulk points (or circles around points) are not made of one
  // Leaflet object per feature: they are drawn in one pass on their own canvas, from the
  // coordinate arrays, and found under the mouse through a grid of screen cells.
  var R_EARTH = 6378137;
  function mercX(lon) { return (lon + 180) / 360; }
  function mercY(lat) {
    var s = Math.sin(lat * Math.PI / 180);
    return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
  }
  var Bulk = window.L.Layer.extend({
    initialize: function (Ld, li, pane) {
      var n = Ld.id.length;
      this.Ld = Ld;
      this.li = li;
      this.n = n;
      this.options = {pane: pane};
      this.on = new Uint8Array(n).fill(1);
      this.mx = new Float64Array(n);
      this.my = new Float64Array(n);
      this.rm = new Float64Array(n);  // circle radius as a share of the world's width
      for (var i = 0; i < n; i++) {
        this.mx[i] = mercX(Ld.x[i]);
        this.my[i] = mercY(Ld.y[i]);
        this.rm[i] = Ld.r ? Ld.r / (2 * Math.PI * R_EARTH * Math.cos(Ld.y[i] * Math.PI / 180)) : 0;
      }
    },
    // Feature i as an entry of C.byKey (made once, on demand).
    entry: function (i) {
      var m = this._entries || (this._entries = new Map()), e = m.get(i);
      if (!e) {
        e = {layer: null, bulk: this, parent: this.parent, group: this.group, li: this.li, i: i,
             key: this.Ld.kp + D.texts[this.Ld.id[i]]};
        m.set(i, e);
      }
      return e;
    },
    // Which features are in force in a phase (sel: a phase or null); returns how many.
    setPhase: function (sel) {
      var probe = {li: this.li, i: 0}, on = this.on, n = this.n, count = 0;
      if (typeof this.Ld.ph === 'number') {  // one phase set for the whole layer
        on.fill(C.inForce(probe, sel) ? 1 : 0);
        return on[0] ? n : 0;
      }
      for (var i = 0; i < n; i++) {
        probe.i = i;
        on[i] = C.inForce(probe, sel) ? 1 : 0;
        count += on[i];
      }
      return count;
    },
    onAdd: function (map) {
      this._canvas = window.L.DomUtil.create('canvas', 'cgt-bulk leaflet-zoom-hide');
      this.getPane().appendChild(this._canvas);
      map.on('moveend resize', this.redraw, this);
      this.redraw();
    },
    onRemove: function (map) {
      map.off('moveend resize', this.redraw, this);
      this._canvas.remove();
      this._grid = null;
    },
    // Container pixel of feature i at the current view.
    px: function (i) {
      var map = this._map, scale = 256 * Math.pow(2, map.getZoom()), o = map.getPixelBounds().min;
      var c = map.layerPointToContainerPoint(map.containerPointToLayerPoint([0, 0]));
      return [this.mx[i] * scale - o.x + c.x, this.my[i] * scale - o.y + c.y];
    },
    radiusPx: function (i) {
      var Ld = this.Ld;
      if (!Ld.r) { return D.styles[at(Ld.st, i)].radius || 5; }
      return this.rm[i] * 256 * Math.pow(2, this._map.getZoom());
    },
    redraw: function () {
      var map = this._map;
      if (!map || C.holdBulk) { return; }
      var L = window.L, size = map.getSize(), dpr = window.devicePixelRatio || 1, cv = this._canvas;
      L.DomUtil.setPosition(cv, map.containerPointToLayerPoint([0, 0]));
      cv.width = size.x * dpr;
      cv.height = size.y * dpr;
      cv.style.width = size.x + 'px';
      cv.style.height = size.y + 'px';
      var ctx = cv.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      var scale = 256 * Math.pow(2, map.getZoom()), o = map.getPixelBounds().min;
      var Ld = this.Ld, circles = !!Ld.r, cell = 24, grid = new Map(), cols = Math.ceil(size.x / cell) + 2;
      var byStyle = {}, one = typeof Ld.st === 'number', r0 = D.styles[at(Ld.st, 0)].radius || 5;
      for (var i = 0; i < this.n; i++) {
        if (!this.on[i]) { continue; }
        var x = this.mx[i] * scale - o.x, y = this.my[i] * scale - o.y;
        var r = circles ? this.rm[i] * scale : (one ? r0 : (D.styles[Ld.st[i]].radius || 5));
        if (x < -r || y < -r || x > size.x + r || y > size.y + r) { continue; }
        var si = one ? Ld.st : Ld.st[i];
        (byStyle[si] = byStyle[si] || []).push(x, y, r);
        var key = (Math.floor(y / cell) + 1) * cols + Math.floor(x / cell) + 1;
        var list = grid.get(key);
        if (list) { list.push(i); } else { grid.set(key, [i]); }
      }
      this._cols = cols;
      // Fills and markers are rasterised in script (raster.js): one coverage mask for the
      // union of the zones' fills, put on the map at the style's opacity, so overlapping zones
      // read as one area (as one path would); markers composited from the top down, so that
      // the many hidden under others cost nothing. Outlines of a few circles are stamped.
      var self = this, RS = window.CGTRaster, W = cv.width, H = cv.height, OUTLINE_MAX = 3000;
      var scratch = this._scratch || (this._scratch = document.createElement('canvas'));
      function blit(img, alpha) {
        scratch.width = W;
        scratch.height = H;
        scratch.getContext('2d').putImageData(img, 0, 0);
        ctx.save();
        ctx.setTransform(1, 0, 0, 1, 0, 0);
        ctx.globalAlpha = alpha;
        ctx.drawImage(scratch, 0, 0);
        ctx.restore();
      }
      Object.keys(byStyle).forEach(function (si) {
        var st = D.styles[si], a = byStyle[si], dash = st.dashArray ? st.dashArray.split(' ').map(Number) : [];
        // A circle of radius r (CSS pixels) pre-drawn on a small canvas.
        function sprite(r, part, alpha) {
          var half = Math.ceil(r + (st.weight || 0) + 1);
          var sp = {c: document.createElement('canvas'), h: half};
          sp.c.width = sp.c.height = 2 * half * dpr;
          var sc = sp.c.getContext('2d');
          sc.scale(dpr, dpr);
          sc.beginPath();
          sc.arc(half, half, r, 0, 2 * Math.PI);
          sc.globalAlpha = alpha;
          if (part !== 'stroke') { sc.fillStyle = st.fillColor || st.color; sc.fill(); }
          if (part === 'both') { sc.globalAlpha = st.opacity === undefined ? 1 : st.opacity; }
          if (part !== 'fill' && st.weight) {
            sc.setLineDash(dash); sc.strokeStyle = st.color; sc.lineWidth = st.weight; sc.stroke();
          }
          return sp;
        }
        function outline(alpha) {
          var sprites = {};
          for (var k = 0; k < a.length; k += 3) {
            var r = Math.max(a[k + 2], 0.5);
            if (r > 40) {
              ctx.beginPath();
              ctx.arc(a[k], a[k + 1], r, 0, 2 * Math.PI);
              ctx.globalAlpha = alpha;
              ctx.setLineDash(dash); ctx.strokeStyle = st.color; ctx.lineWidth = st.weight; ctx.stroke();
              ctx.globalAlpha = 1;
              continue;
            }
            var rk = Math.round(r * 2) / 2, sp = sprites[rk] || (sprites[rk] = sprite(rk, 'stroke', alpha));
            ctx.drawImage(sp.c, a[k] - sp.h, a[k + 1] - sp.h, 2 * sp.h, 2 * sp.h);
          }
        }
        var fillA = st.fillOpacity === undefined ? 0.2 : st.fillOpacity;
        if (!circles && st.fill !== false && a.length && a[2] <= 40) {
          // Markers (same radius): fill and outline in one sprite.
          var buf = self._buf && self._buf.length === W * H * 4 ? self._buf.fill(0) : new Float32Array(W * H * 4);
          self._buf = buf;
          RS.stampUnder(RS.sprite(sprite(a[2], 'both', fillA).c), a, dpr, W, H, buf);
          blit(RS.toImage(ctx, W, H, buf), 1);
          return;
        }
        if (st.fill !== false && fillA > 0 && a.length) {
          self._mask = RS.discMask(a, dpr, W, H, self._mask);
          blit(RS.toImage(ctx, W, H, self._mask, RS.rgb(ctx, st.fillColor || st.color)), fillA);
        }
        // Outlines of thousands of overlapping zones are noise: drawn once few are in view.
        if (st.weight && (!circles || a.length / 3 <= OUTLINE_MAX)) {
          outline(st.opacity === undefined ? 1 : st.opacity);
        }
      });
      ctx.globalAlpha = 1;
      this._grid = grid;
      this._cell = cell;
    },
    // The feature under a container point (nearest centre; a circle counts inside its radius).
    hit: function (p) {
      if (!this._grid || !this._map) { return -1; }
      var scale = 256 * Math.pow(2, this._map.getZoom()), o = this._map.getPixelBounds().min;
      var best = -1, bestD = Number.MAX_VALUE, Ld = this.Ld, cell = this._cell;
      var reach = Ld.r ? 0 : 8, cx = Math.floor(p.x / cell), cy = Math.floor(p.y / cell);
      var span = Ld.r ? Math.ceil(this.radiusPx(0) / cell) + 1 : 1;
      for (var gx = cx - span; gx <= cx + span; gx++) {
        for (var gy = cy - span; gy <= cy + span; gy++) {
          var list = this._grid.get((gy + 1) * this._cols + gx + 1);
          if (!list) { continue; }
          for (var k = 0; k < list.length; k++) {
            var i = list[k], dx = this.mx[i] * scale - o.x - p.x, dy = this.my[i] * scale - o.y - p.y;
            var d = Math.sqrt(dx * dx + dy * dy), lim = (Ld.r ? this.radiusPx(i) : 5) + reach;
            if (d <= lim && d < bestD) { best = i; bestD = d; }
          }
        }
      }
      return best;
    }
  });
  C.bulks = [];

  // The bulk feature under the mouse, points before circles.
  // (the zones' canvas is drawn under the points' one but comes later in C.bulks)
  function bulkAt(p) {
    for (var pass = 0; pass < 2; pass++) {
      for (var k = C.bulks.length - 1; k >= 0; k--) {
        var b = C.bulks[k];
        if ((b.Ld.c === 'points') !== (pass === 0) || !C.map.hasLayer(b)) { continue; }
        var i = b.hit(p);
        if (i >= 0) { return b.entry(i); }
      }
    }
    return null;
  }

  // A canvas feature by its key (key prefix + id): each layer's ids are indexed on first use.
  function bulkByKey(key) {
    if (typeof key !== 'string') { return undefined; }
    for (var k = 0; k < C.bulks.length; k++) {
      var b = C.bulks[k], Ld = b.Ld;
      if (key.lastIndexOf(Ld.kp, 0) !== 0) { continue; }
      if (!b._ids) {
        b._ids = new Map();
        for (var j = 0; j < b.n; j++) { b._ids.set(D.texts[Ld.id[j]], j); }
      }
      var i = b._ids.get(key.slice(Ld.kp.length));
      if (i !== undefined) { return b.entry(i); }
    }
    return undefined;
  }

  // The search index: [name, kind, key] of every searchable feature, by name then key. Canvas
  // layers can hold 100,000 names, so it is made when the first query is typed.
  var searchList = null;
  C.searchIndex = function () {
    if (searchList) { return searchList; }
    var list = C._search.slice();
    C.bulks.forEach(function (b) {
      var Ld = b.Ld, kl = txt(Ld.kl);
      if (!Ld.se) { return; }
      for (var j = 0; j < b.n; j++) {
        var nm = at(Ld.nm, j);
        if (nm >= 0) { list.push([D.texts[nm], kl, Ld.kp + D.texts[Ld.id[j]]]); }
      }
    });
    list.sort(function (a, b) { return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : (a[2] < b[2] ? -1 : 1); });
    searchList = list;
    return list;
  };
  Object.defineProperty(C, 'search', {get: C.searchIndex, enumerable: true});

  // ---- building the layers ----------------------------------------------------------------

  function makeLayers(L, map) {
    var opt = D.options, canvas = opt.canvas;
    C.bulks = [];
    C.svg = L.svg({pane: 'cgt-halo'});
    C.groups = D.groups.map(function () { return L.featureGroup(); });
    C.parents = [];
    C.byKey = new Proxy({}, {get: function (own, key) {
      return Object.prototype.hasOwnProperty.call(own, key) ? own[key] : bulkByKey(key);
    }});
    C._search = [];
    searchList = null;
    C.labelCands = [];
    C.proxied = [];
    var crs = map.options.crs;
    D.layers.forEach(function (Ld, li) {
      var g = D.groups[Ld.g], fg = C.groups[Ld.g], parent = L.featureGroup(), n = Ld.id.length;
      var pane = canvas ? 'overlayPane'
        : (!g.i ? 'cgt-boundary' : (g.z === 10 ? 'cgt-zones' : 'cgt-' + (Ld.c === 'circles' ? 'zones' : Ld.c)));
      var geo = Ld.geo;
      if ((Ld.c === 'points' || Ld.c === 'circles') && n > opt.bulk) {
        // Circles (zones) under every feature, points over them, each on its own canvas.
        var bulkPane = Ld.c === 'circles' ? 'cgt-bulk' : 'cgt-bulkpoints';
        if (!map.getPane(bulkPane)) {
          map.createPane(bulkPane).style.zIndex = Ld.c === 'circles' ? 402 : 445;
          map.getPane(bulkPane).style.pointerEvents = 'none';
        }
        // Its features get an entry (like C.entries') only when asked for: C.byKey, a click.
        var bulkLayer = new Bulk(Ld, li, bulkPane);
        bulkLayer.parent = parent;
        bulkLayer.group = fg;
        parent.addLayer(bulkLayer);
        C.bulks.push(bulkLayer);
        parent.addTo(fg);
        C.parents.push(parent);
        return;
      }
      for (var i = 0; i < n; i++) {
        var style = L.extend({pane: pane}, D.styles[at(Ld.st, i)]);
        if (!g.i) { style.interactive = false; }
        var layer;
        if (Ld.c === 'points') {
          layer = L.circleMarker([Ld.y[i], Ld.x[i]], style);
        } else if (Ld.c === 'circles') {
          layer = L.circle([Ld.y[i], Ld.x[i]], L.extend(style, {radius: Ld.r}));
        } else {
          var gm = geo[i], t = gm.type;
          if (t === 'LineString' || t === 'MultiLineString') {
            layer = L.polyline(L.GeoJSON.coordsToLatLngs(gm.coordinates, t === 'LineString' ? 0 : 1), style);
          } else if (t === 'Polygon' || t === 'MultiPolygon') {
            layer = L.polygon(L.GeoJSON.coordsToLatLngs(gm.coordinates, t === 'Polygon' ? 1 : 2), style);
          } else {
            layer = L.geoJSON(gm, {style: style, pointToLayer: function (f, ll) { return L.circleMarker(ll, style); }});
            layer.getLayers().forEach(function (sub) { sub.options.pane = pane; });
          }
        }
        var key = Ld.kp + D.texts[Ld.id[i]];
        var e = {layer: layer, parent: parent, group: fg, li: li, i: i, key: key};
        layer._cgt = e;
        if (layer.eachLayer) { layer.eachLayer(function (s) { s._cgt = e; }); }
        parent.addLayer(layer);
        C.entries.push(e);
        C.byKey[key] = e;
        if (!g.i) { continue; }
        var nm = at(Ld.nm, i);
        if (Ld.se && nm >= 0) { C._search.push([txt(nm), txt(Ld.kl), key]); }
        if (Ld.lb && nm >= 0) {
          e.label = txt(nm);
          e.line = Ld.c === 'lines';
          e.prio = Ld.lb;
          C.labelCands.push(e);
        }
        if (Ld.mx) {
          var b = layer.getBounds();
          var p1 = crs.latLngToPoint(b.getSouthWest(), 0), p2 = crs.latLngToPoint(b.getNorthEast(), 0);
          e.size0 = Math.max(Math.abs(p2.x - p1.x), Math.abs(p2.y - p1.y));
          var st = D.styles[at(Ld.st, i)];
          e.proxy = L.circleMarker([Ld.my[i], Ld.mx[i]], {
            radius: 5, color: '#ffffff', weight: 1.5, fillColor: (st.fill ? st.fillColor : st.color) || '#555',
            fillOpacity: 0.95, className: 'cgt-proxy', pane: canvas ? 'overlayPane' : 'cgt-points'});
          e.proxy._cgt = e;
          C.proxied.push(e);
        }
      }
      parent.addTo(fg);
      C.parents.push(parent);
    });
    // Plan places first, then streets before points, then longer names last.
    C.labelCands.sort(function (a, b) { return b.prio - a.prio || a.label.length - b.label.length; });
    var overlays = {};
    D.groups.forEach(function (g, gi) {
      var fg = C.groups[gi];
      if (g.i) { fg.on('click mouseover', onFeature); }
      fg.addTo(map);
      // The layer control's label: swatch (SVG made from style values) and the group's name.
      // (the group's index keeps two groups with the same swatch and count apart)
      overlays[g.sw + '<span class="cgt-ln" data-g="' + gi + '"></span><span class="cgt-n">' + g.n + '</span>'] = fg;
    });
    var ctl = L.control.layers(null, overlays, {collapsed: false, position: 'topright'}).addTo(map);
    // Names are text: written into the labels' placeholders with textContent.
    var names = ctl.getContainer().querySelectorAll('.cgt-ln');
    Array.prototype.forEach.call(names, function (s) {
      s.textContent = D.groups[+s.getAttribute('data-g')].label;
    });
    map.on('overlayadd overlayremove', function () { C.updateLabels(); });
  }

  C.init = function (map) {
    var L = window.L;
    C.map = map;
    var opt = C.data.options;
    var container = map.getContainer();
    if (opt.offline) { container.classList.add('cgt-offline'); }
    map.attributionControl.setPrefix(false);
    var t0 = performance.now();
    C.holdBulk = true;  // the canvases are drawn once, when the opening view is set
    makeLayers(L, map);
    C.timing = {layers: performance.now() - t0};
    map.on('zoomend', C.updateProxies);
    if (C.bulks.length) {
      var tip = L.tooltip({direction: 'top', offset: [0, -6], opacity: 0.95, className: 'cgt-tip'});
      map.on('click', function (ev) {
        if (C._featureClick) { C._featureClick = false; return; }
        var e = bulkAt(ev.containerPoint);
        if (e) { C.highlight(e.key); C.openPopup(e, C.latLng(e)); }
      });
      map.on('mousemove', function (ev) {
        var e = bulkAt(ev.containerPoint);
        container.style.cursor = e ? 'pointer' : '';
        if (e) { tip.setContent(C.tipNode(e)).setLatLng(C.latLng(e)); map.openTooltip(tip); }
        else if (map.hasLayer(tip)) { map.closeTooltip(tip); }
      });
    }
    // Page furniture lives inside the map container so that it stays in full-screen mode.
    var ptitle = document.querySelector('.cgt-print-title');
    if (ptitle) { container.appendChild(ptitle); }
    var banner = document.getElementById('cgt-banner');
    if (banner) { container.appendChild(banner); container.classList.add('cgt-has-banner'); }
    var panel = document.getElementById('cgt-panel');
    if (panel) {
      container.appendChild(panel);
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
      var narrow = window.innerWidth < 760;
      container.classList.add(narrow ? 'cgt-closed' : 'cgt-open');
      var toggle = panel.querySelector('.cgt-panel-toggle');
      toggle.textContent = narrow ? '▶' : '◀';
      toggle.addEventListener('click', function () {
        var open = container.classList.contains('cgt-open');
        container.classList.toggle('cgt-open', !open);
        container.classList.toggle('cgt-closed', open);
        toggle.textContent = open ? '▶' : '◀';
        setTimeout(C.updateLabels, 250);
      });
      Array.prototype.forEach.call(panel.querySelectorAll('[data-phase]'), function (b) {
        b.addEventListener('click', function () { C.setPhase(b.getAttribute('data-phase')); });
      });
    }
    if (opt.empty) {
      var msg = el('div', 'cgt-empty', opt.empty, container);
      msg.setAttribute('role', 'status');
    }
    var legend = document.getElementById('cgt-legend');
    if (legend) {
      legendControl(L, legend).addTo(map);
      // On a short screen the legend starts folded; it unfolds on a click.
      if (window.innerHeight < 800) { C.foldLegend(true); }
    }
    searchControl(L).addTo(map);
    L.control.scale({imperial: false, metric: true, maxWidth: 160, position: 'bottomleft'}).addTo(map);
    if (opt.attribution) { map.attributionControl.addAttribution(opt.attribution.replace(/[<>&]/g, '')); }
    // Overview map: the basemap's tiles, or with no basemap the region's outline (no tiles
    // exist offline); folded on small screens.
    if (L.Control.MiniMap && opt.minimap) {
      var mini;
      if (opt.minimap.tiles) {
        mini = L.tileLayer(opt.minimap.tiles, {subdomains: opt.minimap.subdomains || 'abc',
                                               attribution: '', maxZoom: 18});
      } else {
        mini = L.geoJSON(opt.minimap.outline, {interactive: false,
          style: {color: '#6c5b7b', weight: 1, fillColor: '#fcfcf8', fillOpacity: 1}});
      }
      var small = window.innerWidth < 1400 || window.innerHeight < 850;
      C.minimap = new L.Control.MiniMap(mini, {position: 'bottomleft', toggleDisplay: true, width: 140,
        height: 140, zoomLevelOffset: -4, minimized: small,
        strings: {hideText: '隐藏鹰眼图', showText: '显示鹰眼图'},
        mapOptions: {attributionControl: false}}).addTo(map);
    }
    C.timing.furniture = performance.now() - t0;
    C.fit();
    C.timing.fit = performance.now() - t0;
    map.on('moveend', C.updateLabels);
    map.on('resize', C.updateLabels);
    C.holdBulk = false;
    C.setPhase(opt.phase || '');
    C.timing.phase = performance.now() - t0;
    C.ready = true;
    // Slide the panel only once the page stands (the opening view measures where it is).
    setTimeout(function () { container.classList.add('cgt-anim'); }, 0);
    C.updateLabels();
    C.timing.labels = performance.now() - t0;
  };

  // The opening view: every feature inside the part of the map no furniture covers.
  C.fit = function () {
    var opt = D.options;
    if (!opt.bounds) { return; }
    var pad = C.padding();
    C.map.fitBounds(opt.bounds, {paddingTopLeft: pad[0], paddingBottomRight: pad[1], animate: false});
  };

  return C;
})();
window.CGT = CGT;
