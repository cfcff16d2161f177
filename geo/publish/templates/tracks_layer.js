/* Track passes layer: street segments coloured by passes against the plan's daily target.
 * Data comes from geo/publish/tracks_layer.py as CGTTracks.add({...}); the base page (html.py)
 * sets CGT.map when it is ready, so the layer waits for it. */
var CGTTracks = (function () {
  'use strict';
  var T = {};

  function legend(L, data) {
    var box = L.control({position: 'topright'});
    box.onAdd = function () {
      var el = L.DomUtil.create('div', 'cgt-tracks-legend');
      el.style.cssText = 'background:#fff;padding:6px 9px;border-radius:4px;' +
        'box-shadow:0 1px 4px rgba(0,0,0,.3);font:13px/1.5 sans-serif;';
      var html = '<b>' + data.title + '</b>';
      data.statuses.forEach(function (s) {
        html += '<div><span style="display:inline-block;width:22px;height:4px;vertical-align:middle;' +
          'margin-right:6px;background:' + s.color + '"></span>' + s.label + '（' + s.count + '）</div>';
      });
      if (data.note) { html += '<div style="color:#a00">' + data.note + '</div>'; }
      el.innerHTML = html;
      return el;
    };
    return box;
  }

  function draw(data) {
    var L = window.L, map = window.CGT.map;
    var styles = {};
    data.statuses.forEach(function (s) { styles[s.key] = s; });
    // Its own pane above the plan's street lines, which it colours.
    if (!map.getPane('cgt-tracks')) { map.createPane('cgt-tracks').style.zIndex = 645; }
    var layer = L.geoJSON(data.features, {
      pane: 'cgt-tracks',
      style: function (f) {
        var s = styles[f.properties.s];
        return {color: s.color, weight: s.weight, dashArray: s.dash || null, opacity: 0.95, lineCap: 'butt'};
      },
      onEachFeature: function (f, lyr) { lyr.bindPopup(f.properties.p); }
    });
    layer.addTo(map);
    legend(L, data).addTo(map);
    T.layer = layer;
    T.ready = true;
  }

  T.add = function (data) {
    function wait() {
      if (window.CGT && window.CGT.ready && window.CGT.map) { draw(data); } else { setTimeout(wait, 50); }
    }
    wait();
  };
  return T;
})();
window.CGTTracks = CGTTracks;
