/* Rasterising many small circles in script, for the map's canvas layers (see map.js, Bulk).
 *
 * A canvas draws each circle with its own call (drawImage or arc): at 100,000 circles that
 * is seconds without a GPU, and most of them are painted over at once. These functions work
 * on plain pixel arrays instead, with a cost that follows the pixels that end up visible:
 *
 * discMask   the union of filled discs as one coverage mask (anti-aliased edges): what a
 *            single path of all the discs, filled, would give.
 * stampUnder one pre-drawn sprite (a marker) at many positions, in drawing order, composited
 *            from the top down: a pixel already opaque is not touched again, so markers hidden
 *            under later ones cost almost nothing.
 * toImage    a mask or a premultiplied buffer as ImageData, ready for putImageData.
 *
 * Positions are device pixels; ``a`` is a flat array x0, y0, r0, x1, y1, r1, ...
 */
var CGTRaster = (function () {
  'use strict';
  var R = {};

  // Union of the discs in ``a`` (coordinates scaled by ``k``) as a coverage mask (0..255).
  R.discMask = function (a, k, w, h, mask) {
    if (!mask || mask.length !== w * h) { mask = new Uint8Array(w * h); } else { mask.fill(0); }
    for (var j = 0; j < a.length; j += 3) {
      var cx = a[j] * k, cy = a[j + 1] * k, r = Math.max(a[j + 2] * k, 0.5);
      var ro = r + 0.5, ri = r - 0.5, ro2 = ro * ro, ri2 = ri > 0 ? ri * ri : -1;
      var y0 = Math.max(Math.floor(cy - ro), 0), y1 = Math.min(Math.ceil(cy + ro), h - 1);
      for (var py = y0; py <= y1; py++) {
        var dy = py + 0.5 - cy, dy2 = dy * dy;
        if (dy2 >= ro2) { continue; }
        var row = py * w, ho = Math.sqrt(ro2 - dy2);
        var xa = Math.max(Math.ceil(cx - ho - 0.5), 0), xb = Math.min(Math.floor(cx + ho - 0.5), w - 1);
        var fa = xb + 1, fb = xb;  // the fully covered run [fa, fb], if any
        if (dy2 < ri2) {
          var hi = Math.sqrt(ri2 - dy2);
          fa = Math.max(Math.ceil(cx - hi - 0.5), xa);
          fb = Math.min(Math.floor(cx + hi - 0.5), xb);
          if (fb >= fa) { mask.fill(255, row + fa, row + fb + 1); } else { fa = xb + 1; fb = xb; }
        }
        // Edge pixels: coverage from the distance of the pixel's centre to the circle.
        for (var px = xa; px <= xb; px++) {
          if (px === fa) { px = fb; continue; }
          var dx = px + 0.5 - cx, cov = ro - Math.sqrt(dx * dx + dy2);
          if (cov <= 0) { continue; }
          var i = row + px, m = mask[i], v = cov >= 1 ? 255 : cov * 255;
          mask[i] = m + v * (255 - m) / 255;  // source-over of coverages
        }
      }
    }
    return mask;
  };

  // The sprite's pixels, premultiplied (ImageData from the sprite's canvas).
  R.sprite = function (canvas) {
    var w = canvas.width, h = canvas.height, d = canvas.getContext('2d').getImageData(0, 0, w, h).data;
    var px = new Float32Array(w * h * 4), idx = [], n = 0;
    for (var i = 0; i < w * h; i++) {
      var al = d[i * 4 + 3];
      if (!al) { continue; }
      var f = al / 255;
      px[n * 4] = d[i * 4] * f;
      px[n * 4 + 1] = d[i * 4 + 1] * f;
      px[n * 4 + 2] = d[i * 4 + 2] * f;
      px[n * 4 + 3] = al;
      idx.push(i % w, Math.floor(i / w));
      n++;
    }
    return {w: w, h: h, n: n, px: px.subarray(0, n * 4), at: new Int16Array(idx)};
  };

  // The sprite at every position in ``a`` (its centre, scaled by ``k``), later ones on top,
  // into ``buf`` (premultiplied RGBA, w × h). Positions are rounded to whole pixels.
  R.stampUnder = function (sp, a, k, w, h, buf) {
    var half = sp.w / 2, px = sp.px, at = sp.at, n = sp.n, s, di, da, f, si;
    var off = new Int32Array(n);  // each sprite pixel's offset in the buffer from the corner
    for (s = 0; s < n; s++) { off[s] = (at[2 * s + 1] * w + at[2 * s]) * 4; }
    for (var j = a.length - 3; j >= 0; j -= 3) {
      var x0 = Math.round(a[j] * k - half), y0 = Math.round(a[j + 1] * k - half);
      if (x0 >= 0 && y0 >= 0 && x0 + sp.w <= w && y0 + sp.h <= h) {
        var base = (y0 * w + x0) * 4;
        for (s = 0; s < n; s++) {
          di = base + off[s];
          da = buf[di + 3];
          if (da > 254.5) { continue; }
          f = (255 - da) / 255;
          si = s * 4;
          buf[di] += px[si] * f;
          buf[di + 1] += px[si + 1] * f;
          buf[di + 2] += px[si + 2] * f;
          buf[di + 3] = da + px[si + 3] * f;
        }
        continue;
      }
      for (s = 0; s < n; s++) {  // at the edge of the view: clip pixel by pixel
        var x = x0 + at[2 * s], y = y0 + at[2 * s + 1];
        if (x < 0 || y < 0 || x >= w || y >= h) { continue; }
        di = (y * w + x) * 4;
        da = buf[di + 3];
        if (da > 254.5) { continue; }
        f = (255 - da) / 255;
        si = s * 4;
        buf[di] += px[si] * f;
        buf[di + 1] += px[si + 1] * f;
        buf[di + 2] += px[si + 2] * f;
        buf[di + 3] = da + px[si + 3] * f;
      }
    }
    return buf;
  };

  // A coverage mask in one colour (``rgb`` as [r, g, b]), or a premultiplied buffer, as ImageData.
  R.toImage = function (ctx, w, h, mask, rgb) {
    var img = ctx.createImageData(w, h), out = img.data, i;
    if (rgb) {
      for (i = 0; i < w * h; i++) {
        var m = mask[i];
        if (!m) { continue; }
        out[i * 4] = rgb[0];
        out[i * 4 + 1] = rgb[1];
        out[i * 4 + 2] = rgb[2];
        out[i * 4 + 3] = m;
      }
      return img;
    }
    for (i = 0; i < w * h * 4; i += 4) {
      var al = mask[i + 3];
      if (al < 0.5) { continue; }
      var f = 255 / al;
      out[i] = mask[i] * f;
      out[i + 1] = mask[i + 1] * f;
      out[i + 2] = mask[i + 2] * f;
      out[i + 3] = al;
    }
    return img;
  };

  // A CSS colour as [r, g, b] (the canvas normalises any opaque colour to #rrggbb).
  R.rgb = function (ctx, colour) {
    ctx.fillStyle = '#000000';
    ctx.fillStyle = colour;
    var v = parseInt(String(ctx.fillStyle).slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  };

  return R;
})();
