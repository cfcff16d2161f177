/* 问题台账 layer: clustered case markers styled by status, a grid layer shaded by overdue count
 * and a per-unit table. Every user text is written with textContent (never as HTML). */
var CGTCases = (function () {
  'use strict';
  var K = {ready: false, markers: [], cluster: null, grid: null};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function row(table, label, value) {
    if (value === undefined || value === null || value === '') { return; }
    var tr = el('tr');
    tr.appendChild(el('th', null, label));
    tr.appendChild(el('td', null, value));
    table.appendChild(tr);
  }

  function popup(c, data) {
    var box = el('div', 'cgt-case-popup');
    box.appendChild(el('div', 'cgt-case-title', '案件 ' + c.id));
    var t = el('table');
    row(t, '状态', data.labels[c.s] + (c.o ? '（超期' + c.d + '天）' : ''));
    row(t, '问题类型', c.cat);
    row(t, '问题描述', c.desc);
    row(t, '上报时间', c.rep);
    row(t, '处置时限', c.dl);
    row(t, '结案时间', c.cl);
    row(t, '网格', c.g);
    row(t, '街道', c.st);
    row(t, '街(路)长', c.ch);
    row(t, '规则', c.r);
    row(t, '责任单位', c.u);
    row(t, '分派依据', c.by ? data.assigned[c.by] || c.by : '');
    box.appendChild(t);
    return box;
  }

  function styleKey(c) { return c.o ? 'overdue' : (K.data.style_of[c.s] || 'open'); }

  function icon(c) {
    var k = styleKey(c);
    return L.divIcon({className: 'cgt-case cgt-case-' + k + ' cgt-shape-' + (K.data.shapes[k] || 'circle'),
                      iconSize: [14, 14], iconAnchor: [7, 7],
                      html: ''});
  }

  function clusterIcon(cluster) {
    var kids = cluster.getAllChildMarkers(), over = 0;
    kids.forEach(function (m) { if (m.options.cgtCase.o) { over += 1; } });
    var div = el('div');
    // A cluster holding an overdue case takes the shared overdue colour.
    if (over) { div.style.background = K.data.colors.overdue; }
    div.appendChild(el('span', null, String(kids.length)));
    return L.divIcon({className: 'cgt-case-cluster' + (over ? ' cgt-case-cluster-overdue' : ''),
                      html: div.outerHTML, iconSize: [34, 34]});
  }

  function gridColor(n, max) {
    if (!n) { return null; }
    var t = Math.min(1, n / Math.max(max, 1));
    var steps = ['#fee5d9', '#fcae91', '#fb6a4a', '#de2d26', '#a50f15'];
    return steps[Math.min(steps.length - 1, Math.floor(t * (steps.length - 1) + 0.0001))];
  }

  function unitTable(data) {
    var box = el('div', 'cgt-case-panel');
    box.id = 'cgt-case-panel';
    box.appendChild(el('div', 'cgt-case-panel-title', '问题台账 · 截至 ' + data.as_of));
    var t = el('table', 'cgt-case-units');
    var head = el('tr');
    ['责任单位', '受理', '结案', '未结', '超期', '结案率'].forEach(function (h) { head.appendChild(el('th', null, h)); });
    t.appendChild(head);
    data.units.forEach(function (u) {
      var tr = el('tr');
      [u.unit, u.received, u.closed, u.open, u.open_overdue,
       u.close_rate === null ? '' : (u.close_rate * 100).toFixed(1) + '%'].forEach(function (v, i) {
        var td = el('td', i === 4 && u.open_overdue > 0 ? 'cgt-case-hot' : null, v);
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    box.appendChild(t);
    var legend = el('div', 'cgt-case-legend');
    Object.keys(data.colors).forEach(function (k) {
      var item = el('span', 'cgt-case-legend-item');
      var sw = el('i', 'cgt-case cgt-case-' + k + ' cgt-shape-' + (data.shapes[k] || 'circle'));
      item.appendChild(sw);
      item.appendChild(document.createTextNode(data.status_words[k]));
      legend.appendChild(item);
    });
    box.appendChild(legend);
    if (data.note) { box.appendChild(el('div', 'cgt-case-note', data.note)); }
    return box;
  }

  K.init = function (data) {
    var map = window.CGT.map;
    K.data = data;
    // Clustering needs a finite zoom range; an offline page without tiles may not set one.
    if (map.options.maxZoom === undefined) { map.options.maxZoom = 20; }
    var style = document.createElement('style');
    var css = '';
    Object.keys(data.colors).forEach(function (k) {
      css += '.cgt-case-' + k + '{background:' + data.colors[k] + ';}';
    });
    style.textContent = css;
    document.head.appendChild(style);

    var maxOver = 0;
    data.grids.features.forEach(function (f) { maxOver = Math.max(maxOver, f.properties.overdue); });
    K.grid = L.geoJSON(data.grids, {
      style: function (f) {
        var c = gridColor(f.properties.overdue, maxOver);
        return {color: '#7f8c8d', weight: 0.6, fillColor: c || '#ffffff', fillOpacity: c ? 0.45 : 0.0};
      },
      onEachFeature: function (f, layer) {
        var p = f.properties, box = el('div');
        box.appendChild(el('div', 'cgt-case-title', '网格 ' + p.code));
        box.appendChild(el('div', null, (p.community || '') + ' 超期 ' + p.overdue + ' 件 / 未结 ' + p.open + ' 件'));
        layer.bindTooltip(box, {sticky: true});
        layer.cgtOverdue = p.overdue;
      }
    });
    K.cluster = L.markerClusterGroup({iconCreateFunction: clusterIcon, maxClusterRadius: 50,
                                      showCoverageOnHover: false});
    var cols = data.cases, keys = Object.keys(cols), n = cols.x.length;
    for (var i = 0; i < n; i += 1) {
      var c = {};
      keys.forEach(function (k) { if (cols[k][i] !== null) { c[k] = cols[k][i]; } });
      addCase(c);
    }
    function addCase(c) {
      var m = L.marker([c.y, c.x], {icon: icon(c), cgtCase: c, title: String(c.id)});
      m.bindPopup(function () { return popup(c, data); }, {maxWidth: 360});
      K.markers.push(m);
    }
    K.cluster.addLayers(K.markers);
    K.grid.addTo(map);
    K.cluster.addTo(map);
    L.control.layers(null, {'问题台账': K.cluster, '网格超期数': K.grid},
                     {collapsed: false, position: 'topleft'}).addTo(map);
    var panel = unitTable(data);
    map.getContainer().appendChild(panel);
    L.DomEvent.disableClickPropagation(panel);
    L.DomEvent.disableScrollPropagation(panel);
    K.ready = true;
  };

  K.start = function (data) {
    (function wait() {
      if (window.CGT && window.CGT.ready && window.CGT.map) { K.init(data); } else { setTimeout(wait, 30); }
    })();
  };
  return K;
})();
window.CGTCases = CGTCases;
