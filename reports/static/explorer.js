/* lowbit report: the interactive explorer. Reads the JSON in #lb-data (reports/explorer.py),
   inflates the embedded plotly.js (#lb-plotly, gzip + base64) and draws, per model, the Pareto
   fronts (hover: the design; click: its allocation and energy by component) and the design-space
   view (any two objectives, colour by any parameter, parameter-range filters, non-dominated set
   ringed). Sets <body data-lb-ready="1"> when every plot is drawn. */
(function () {
  "use strict";
  var root = document.getElementById("lb-explorer");
  var status = document.getElementById("lb-status");
  var DATA = JSON.parse(document.getElementById("lb-data").textContent);
  var OBJ = {};
  DATA.objectives.forEach(function (o) { OBJ[o.key] = o; });
  var PREFIX = [[1e-12, "p"], [1e-9, "n"], [1e-6, "µ"], [1e-3, "m"], [1, ""], [1e3, "k"],
                [1e6, "M"], [1e9, "G"], [1e12, "T"]];
  var PREFIXED = {"s": 1, "J": 1, "B": 1, "Hz": 1, "W": 1};
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"];

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[c];
    });
  }
  function prefixOf(mag) {
    var best = PREFIX[0];
    PREFIX.forEach(function (p) { if (mag >= p[0] * 0.9995) { best = p; } });
    return best;
  }
  function num(v) {
    if (v === null || v === undefined || !isFinite(v)) { return "-"; }
    var a = Math.abs(v);
    if (a === 0) { return "0"; }
    if (a >= 1e9) { var p = prefixOf(a); return (v / p[0]).toPrecision(3).replace(/\.?0+$/, "") + " " + p[1]; }
    if (a >= 1000) { return Math.round(v).toLocaleString("en-US"); }
    if (a >= 1e-4) { return String(Number(v.toPrecision(4))); }
    var e = v.toExponential(3).split("e");
    return e[0] + "×10^" + Number(e[1]);
  }
  function eng(v, unit) {
    if (v === null || v === undefined || !isFinite(v)) { return "-"; }
    if (v === 0) { return "0 " + unit; }
    var p = prefixOf(Math.abs(v));
    return Number((v / p[0]).toPrecision(3)) + " " + p[1] + unit;
  }
  function fmt(key, v) {
    var u = OBJ[key] ? OBJ[key].unit : "";
    if (PREFIXED[u]) { return eng(v, u); }
    return u ? num(v) + " " + u : num(v);
  }
  /* Display scale of an axis: values in base units -> a prefixed unit chosen from the largest. */
  function axis(key, values) {
    var o = OBJ[key], u = o.unit;
    if (!PREFIXED[u]) { return {scale: 1, title: o.label + (u ? " (" + u + ")" : "")}; }
    var big = 0;
    values.forEach(function (v) { if (v !== null && isFinite(v)) { big = Math.max(big, Math.abs(v)); } });
    var p = prefixOf(big || 1);
    return {scale: 1 / p[0], title: o.label + " (" + p[1] + u + ")"};
  }
  function paramText(params) {
    return Object.keys(params).map(function (k) {
      var v = params[k], short = k.split(".").pop();
      if (/_hz$/.test(k)) { return short.replace(/_hz$/, "") + "=" + eng(v, "Hz"); }
      if (/_bytes$/.test(k)) { return short.replace(/_bytes$/, "") + "=" + eng(v, "B"); }
      return short + "=" + v;
    }).join(" ");
  }
  function designHover(d) {
    var lines = ["<b>" + esc(d.id) + "</b>"];
    lines.push(d.preset ? "preset: " + esc(d.resolved || d.base) : "parameters: " + esc(paramText(d.params)));
    if (d.mix) { lines.push("formats: " + esc(d.mix)); }
    lines.push("latency " + fmt("latency_s", d.latency_s) + " · energy " + fmt("energy_j", d.energy_j));
    lines.push("memory " + fmt("memory_bytes", d.memory_bytes) + " · area " + fmt("area_mm2", d.area_mm2));
    lines.push("quality loss " + fmt("quality", d.quality));
    lines.push("<i>click: allocation and energy</i>");
    return lines.join("<br>");
  }
  function frontHover(f, p) {
    var lines = ["<b>" + esc(f.name) + "</b>: ILP at " + esc(OBJ[f.swept] ? OBJ[f.swept].label : f.swept) +
                 " budget " + fmt(f.swept, p.budget)];
    if (f.resolved) { lines.push("preset: " + esc(f.resolved)); }
    lines.push("formats: " + esc(p.mix));
    lines.push("latency " + fmt("latency_s", p.latency_s) + " · energy " + fmt("energy_j", p.energy_j));
    lines.push("memory " + fmt("memory_bytes", p.memory_bytes));
    lines.push("quality loss " + fmt("quality", p.quality));
    lines.push("<i>click: allocation</i>");
    return lines.join("<br>");
  }
  function el(tag, attrs, html) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (html !== undefined) { e.innerHTML = html; }
    return e;
  }
  function select(id, label, options, value) {
    var s = "<label>" + esc(label) + " <select id=\"" + id + "\">";
    options.forEach(function (o) {
      s += "<option value=\"" + esc(o[0]) + "\"" + (o[0] === value ? " selected" : "") + ">" + esc(o[1]) + "</option>";
    });
    return s + "</select></label> ";
  }
  /* Indices of the rows no other row beats in every column (all minimised). */
  function nonDominated(rows) {
    return rows.map(function (a, i) {
      return !rows.some(function (b, j) {
        if (i === j) { return false; }
        var le = true, lt = false;
        for (var k = 0; k < a.length; k++) {
          if (b[k] > a[k]) { le = false; break; }
          if (b[k] < a[k]) { lt = true; }
        }
        return le && lt;
      });
    });
  }
  /* True when every plotted value on axis `a` is positive and they span over 20x: log axis. */
  function spans(traces, a) {
    var v = [];
    traces.forEach(function (t) { v = v.concat(t[a]); });
    if (!v.length || v.some(function (z) { return !(z > 0); })) { return false; }
    return Math.max.apply(null, v) / Math.min.apply(null, v) > 20;
  }
  var LAYOUT = {margin: {l: 70, r: 20, t: 36, b: 60}, height: 420, hovermode: "closest",
                legend: {orientation: "h", y: -0.22}, font: {size: 12}};
  var CONFIG = {displaylogo: false, responsive: true};
  function layout(extra) { return Object.assign({}, LAYOUT, extra); }

  /* ------------------------------------------------------------------ one model */
  function Model(m, mi) {
    this.m = m; this.mi = mi;
    this.id = "lb-m" + mi;
    var box = el("section", {"class": "lb-model", id: this.id});
    var nDes = m.designs.length, nFr = m.fronts.length;
    box.appendChild(el("h3", {}, esc(m.name) + ": Pareto fronts of quality loss against cost (" + nDes +
      " swept designs" + (nFr ? ", ILP fronts over budgets on " + m.fronts.map(function (f) { return esc(f.name); }).join(", ") : "") + ")"));
    var costs = [["latency_s", "latency"], ["energy_j", "energy"], ["memory_bytes", "weight memory"]];
    box.appendChild(el("div", {"class": "lb-controls"}, select(this.id + "-px", "cost axis", costs, "latency_s")));
    box.appendChild(el("div", {"class": "lb-plot", id: this.id + "-pareto"}));
    box.appendChild(el("h4", {id: this.id + "-sel-title"}, ""));
    var detail = el("div", {"class": "lb-detail"});
    detail.appendChild(el("div", {"class": "lb-plot", id: this.id + "-alloc"}));
    detail.appendChild(el("div", {"class": "lb-plot", id: this.id + "-energy"}));
    box.appendChild(detail);
    root.appendChild(box);
    if (nDes) {
      var box2 = el("section", {"class": "lb-model", id: this.id + "-ds"});
      box2.appendChild(el("h3", {}, esc(m.name) + ": design space, every feasible design (" + nDes + "), filter by parameter"));
      var objs = DATA.objectives.filter(function (o) {
        return m.designs.every(function (d) { return d[o.key] !== null && d[o.key] !== undefined; });
      }).map(function (o) { return [o.key, o.label]; });
      var colours = [["base", "base design"]].concat(m.params.map(function (p) { return ["param:" + p, p]; }))
        .concat(objs);
      var c = select(this.id + "-dx", "x", objs, "latency_s") + select(this.id + "-dy", "y", objs, "energy_j") +
        select(this.id + "-dc", "colour", colours, this.values("base").length > 1 || !m.params.length ? "base" : "param:" + m.params[0]) +
        select(this.id + "-dn", "non-dominated in", [["all", "every objective"], ["axes", "the two axes"]], "all");
      box2.appendChild(el("div", {"class": "lb-controls"}, c));
      box2.appendChild(el("div", {"class": "lb-controls lb-filters", id: this.id + "-filters"}, this.filtersHtml()));
      box2.appendChild(el("div", {"class": "lb-plot", id: this.id + "-space"}));
      root.appendChild(box2);
    }
  }
  Model.prototype.values = function (key) {
    var seen = {};
    this.m.designs.forEach(function (d) {
      var v = key === "base" ? d.base : d.params[key];
      if (v !== undefined && v !== null) { seen[v] = v; }
    });
    return Object.keys(seen).map(function (k) { return seen[k]; }).sort(function (a, b) {
      return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
    });
  };
  Model.prototype.filtersHtml = function () {
    var self = this, out = "";
    var keys = ["base"].concat(this.m.params);
    keys.forEach(function (k, ki) {
      var vals = self.values(k);
      if (vals.length < 2) { return; }
      var opts = vals.map(function (v) { return [String(v), /_hz$/.test(k) ? eng(v, "Hz") : String(v)]; });
      if (k === "base") {
        out += "<span class=\"lb-filter\">base: " + vals.map(function (v) {
          return "<label><input type=\"checkbox\" data-key=\"base\" value=\"" + esc(v) + "\" checked> " + esc(v) + "</label>";
        }).join(" ") + "</span> ";
      } else {
        out += "<span class=\"lb-filter\">" + esc(k) + " from " +
          select(self.id + "-f" + ki + "-lo", "", opts, String(vals[0])).replace("<label> ", "<label>") + "to " +
          select(self.id + "-f" + ki + "-hi", "", opts, String(vals[vals.length - 1])) + "</span> ";
      }
    });
    return out || "<span class=\"lb-filter\">(no parameter takes more than one value)</span>";
  };
  Model.prototype.filtered = function () {
    var self = this, keys = this.m.params, bases = {};
    var boxes = document.querySelectorAll("#" + this.id + "-filters input[data-key=base]");
    boxes.forEach(function (b) { bases[b.value] = b.checked; });
    return this.m.designs.filter(function (d) {
      if (boxes.length && !bases[d.base]) { return false; }
      return keys.every(function (k, i) {
        var lo = document.getElementById(self.id + "-f" + (i + 1) + "-lo");
        var hi = document.getElementById(self.id + "-f" + (i + 1) + "-hi");
        var v = d.params[k];
        if (!lo || v === undefined || v === null) { return true; }
        var a = Number(lo.value), b = Number(hi.value);
        if (typeof v !== "number" || isNaN(a)) { return true; }
        return v >= Math.min(a, b) && v <= Math.max(a, b);
      });
    });
  };
  Model.prototype.drawPareto = function () {
    var m = this.m, self = this, x = document.getElementById(this.id + "-px").value;
    var traces = [], groups = {}, order = [];
    m.designs.forEach(function (d, i) {
      if (!groups[d.base]) { groups[d.base] = []; order.push(d.base); }
      groups[d.base].push(i);
    });
    var all = [];
    m.designs.forEach(function (d) { all.push(d[x]); });
    m.fronts.forEach(function (f) { f.points.forEach(function (p) { all.push(p[x]); }); f.uniform.forEach(function (p) { all.push(p[x]); }); });
    var ax = axis(x, all), ci = 0;
    var hasFront = {};
    m.fronts.forEach(function (f) { hasFront[f.hardware] = true; });
    order.forEach(function (base) {
      var idx = groups[base].filter(function (i) { return m.designs[i][x] !== null; });
      if (!idx.length) { return; }
      var col = COLORS[ci++ % COLORS.length];
      var nd = nonDominated(idx.map(function (i) { return [m.designs[i][x], m.designs[i].quality]; }));
      var front = idx.filter(function (i, k) { return nd[k]; }).sort(function (a, b) { return m.designs[a][x] - m.designs[b][x]; });
      var single = idx.length === 1;
      if (!single) {
        traces.push({type: "scatter", mode: "markers", name: base + ": other designs", legendgroup: base,
          x: idx.map(function (i) { return m.designs[i][x] * ax.scale; }), y: idx.map(function (i) { return m.designs[i].quality; }),
          text: idx.map(function (i) { return designHover(m.designs[i]); }), customdata: idx,
          hovertemplate: "%{text}<extra></extra>", meta: {kind: "design"},
          marker: {color: col, opacity: 0.35, size: 7}});
      }
      traces.push({type: "scatter", mode: single ? "markers" : "lines+markers", line: {shape: "hv", color: col, width: 2},
        name: single ? m.designs[idx[0]].id + (hasFront[m.designs[idx[0]].hardware] ? ": swept design at the sweep's budget" : ": one design") : base + ": designs' front",
        legendgroup: base,
        x: front.map(function (i) { return m.designs[i][x] * ax.scale; }), y: front.map(function (i) { return m.designs[i].quality; }),
        text: front.map(function (i) { return designHover(m.designs[i]); }), customdata: front,
        hovertemplate: "%{text}<extra></extra>", meta: {kind: "design"},
        marker: {color: col, size: single ? 12 : 8, symbol: single ? "star" : "circle", line: {color: "#000", width: 0.5}}});
      if (!hasFront[m.designs[idx[0]].hardware]) {
        var best = {};
        idx.forEach(function (i) {
          var u = m.designs[i].uniform || {};
          Object.keys(u).forEach(function (fm) {
            var t = u[fm];
            if (t[x] !== null && t[x] !== undefined && (!best[fm] || t[x] < best[fm][x])) { best[fm] = t; }
          });
        });
        var fms = Object.keys(best);
        if (fms.length) {
          traces.push({type: "scatter", mode: "markers+text", name: base + ": uniform precision", legendgroup: base,
            x: fms.map(function (f) { return best[f][x] * ax.scale; }), y: fms.map(function (f) { return best[f].quality; }),
            text: fms, textposition: "top right", textfont: {size: 10, color: col},
            hovertemplate: "<b>" + esc(base) + "</b>: every layer in %{text}<br>" + esc(OBJ[x].label) + " %{x:.4g}<br>quality loss %{y:.4g}<extra></extra>",
            marker: {symbol: "square-open", size: 11, color: col, line: {width: 2}}});
        }
      }
    });
    m.fronts.forEach(function (f, fi) {
      var col = COLORS[ci++ % COLORS.length];
      var pts = f.points.filter(function (p) { return p[x] !== null && p.quality !== null; });
      var nd = nonDominated(pts.map(function (p) { return [p[x], p.quality]; }));
      var keep = pts.map(function (p, k) { return k; }).filter(function (k) { return nd[k]; })
        .sort(function (a, b) { return pts[a][x] - pts[b][x]; });
      traces.push({type: "scatter", mode: "lines+markers", line: {shape: "hv", color: col, width: 2, dash: "dot"},
        name: f.name + ": ILP front over " + (OBJ[f.swept] ? OBJ[f.swept].label : f.swept) + " budgets",
        x: keep.map(function (k) { return pts[k][x] * ax.scale; }), y: keep.map(function (k) { return pts[k].quality; }),
        text: keep.map(function (k) { return frontHover(f, pts[k]); }),
        customdata: keep.map(function (k) { return f.points.indexOf(pts[k]); }),
        hovertemplate: "%{text}<extra></extra>", meta: {kind: "front", fi: fi},
        marker: {color: col, size: 7, symbol: "diamond"}});
      var u = f.uniform.filter(function (p) { return p[x] !== null && p.quality !== null; });
      if (u.length) {
        traces.push({type: "scatter", mode: "markers+text", name: f.name + ": uniform precision",
          x: u.map(function (p) { return p[x] * ax.scale; }), y: u.map(function (p) { return p.quality; }),
          text: u.map(function (p) { return p.label; }), textposition: "top right", textfont: {size: 10, color: col},
          hovertemplate: "<b>" + esc(f.name) + "</b>: every layer in %{text}<br>" + esc(OBJ[x].label) + " %{x:.4g}<br>quality loss %{y:.4g}<extra></extra>",
          marker: {symbol: "square-open", size: 11, color: col, line: {width: 2}}});
      }
    });
    var ys = [];
    traces.forEach(function (t) { ys = ys.concat(t.y.filter(function (v) { return v > 0; })); });
    var logy = ys.length && Math.max.apply(null, ys) / Math.min.apply(null, ys) > 20;
    var xs = [];
    traces.forEach(function (t) { xs = xs.concat(t.x.filter(function (v) { return v > 0; })); });
    var logx = xs.length && Math.max.apply(null, xs) / Math.min.apply(null, xs) > 20;
    var gd = document.getElementById(this.id + "-pareto");
    return Plotly.react(gd, traces, layout({
      title: {text: esc(m.name) + ": quality loss vs " + esc(OBJ[x].label), font: {size: 14}},
      xaxis: {title: {text: ax.title}, type: logx ? "log" : "linear"},
      yaxis: {title: {text: "quality loss (sum of sensitivity)"}, type: logy ? "log" : "linear"},
      height: 480, legend: {orientation: "h", y: -0.2, font: {size: 10}}}), CONFIG).then(function () {
      if (!gd._lbClick) { gd._lbClick = true; gd.on("plotly_click", function (ev) { self.click(ev); }); }
    });
  };
  Model.prototype.click = function (ev) {
    var pt = ev.points && ev.points[0];
    if (!pt || !pt.data.meta || pt.customdata === undefined) { return; }
    if (pt.data.meta.kind === "design") {
      this.showDesign(this.m.designs[pt.customdata], "clicked in the plot");
    } else if (pt.data.meta.kind === "front") {
      var f = this.m.fronts[pt.data.meta.fi];
      this.showFront(f, f.points[pt.customdata]);
    }
  };
  Model.prototype.allocTraces = function (layers, formats, bits) {
    var seen = [], traces = [];
    formats.forEach(function (f) { if (seen.indexOf(f) < 0) { seen.push(f); } });
    seen.sort(function (a, b) {
      var ba = bits[formats.indexOf(a)], bb = bits[formats.indexOf(b)];
      return ba - bb || a.localeCompare(b);
    });
    seen.forEach(function (f, i) {
      var ii = formats.map(function (g, k) { return g === f ? k : -1; }).filter(function (k) { return k >= 0; });
      traces.push({type: "bar", name: f, x: ii.map(function (k) { return layers[k]; }),
        y: ii.map(function (k) { return bits[k]; }), marker: {color: COLORS[i % COLORS.length]},
        hovertemplate: "%{x}: " + esc(f) + " (%{y} bits)<extra></extra>"});
    });
    return traces;
  };
  Model.prototype.drawAlloc = function (title, layers, formats, bits) {
    return Plotly.react(document.getElementById(this.id + "-alloc"), this.allocTraces(layers, formats, bits), layout({
      title: {text: title, font: {size: 13}}, barmode: "overlay", height: 360,
      xaxis: {categoryorder: "array", categoryarray: layers, tickfont: {size: 9}, automargin: true},
      yaxis: {title: {text: "weight bits"}}, legend: {title: {text: "format"}}}), CONFIG);
  };
  Model.prototype.showDesign = function (d, why) {
    var t = document.getElementById(this.id + "-sel-title");
    t.textContent = this.m.name + ": selected design " + d.id + " (" + why + "): latency " + fmt("latency_s", d.latency_s) +
      ", energy " + fmt("energy_j", d.energy_j) + ", quality loss " + fmt("quality", d.quality);
    var p = [this.drawAlloc(esc(d.id) + ": per-layer formats", d.alloc.layers, d.alloc.formats, d.alloc.bits)];
    var gd = document.getElementById(this.id + "-energy");
    if (d.energy) {
      var comps = Object.keys(d.energy.components), tot = [];
      comps.forEach(function (c) { tot.push(d.energy.components[c].reduce(function (a, b) { return a + b; }, 0)); });
      var order = comps.map(function (c, i) { return i; }).sort(function (a, b) { return tot[b] - tot[a]; });
      var peak = 0;
      d.energy.layers.forEach(function (l, k) {
        var s = 0;
        comps.forEach(function (c) { s += d.energy.components[c][k] || 0; });
        peak = Math.max(peak, s);
      });
      var pr = prefixOf(peak || 1);
      var traces = order.map(function (i, j) {
        var c = comps[i];
        return {type: "bar", name: c + " (" + eng(tot[i], "J") + ")", x: d.energy.layers,
          y: d.energy.components[c].map(function (v) { return v / pr[0]; }), marker: {color: COLORS[j % COLORS.length]},
          hovertemplate: "%{x}: " + esc(c) + " %{y:.3g} " + pr[1] + "J<extra></extra>"};
      });
      p.push(Plotly.react(gd, traces, layout({title: {text: esc(d.id) + ": energy per layer by component", font: {size: 13}},
        barmode: "stack", height: 380, xaxis: {tickfont: {size: 9}, automargin: true},
        yaxis: {title: {text: "energy (" + pr[1] + "J)"}}, legend: {title: {text: "component (total)"}}}), CONFIG));
    } else {
      Plotly.purge(gd);
      gd.innerHTML = "<p class=\"lb-note\">No per-layer energy stored for this design.</p>";
    }
    return Promise.all(p);
  };
  Model.prototype.showFront = function (f, pt) {
    var t = document.getElementById(this.id + "-sel-title");
    t.textContent = this.m.name + ": selected ILP allocation on " + f.name + " at " +
      (OBJ[f.swept] ? OBJ[f.swept].label : f.swept) + " budget " + fmt(f.swept, pt.budget) + " (clicked): latency " +
      fmt("latency_s", pt.latency_s) + ", energy " + fmt("energy_j", pt.energy_j) + ", quality loss " + fmt("quality", pt.quality);
    var bits = pt.formats.map(function (s) { var mm = /(\d+)/.exec(s.split("/")[0]); return mm ? Number(mm[1]) : 0; });
    this.drawAlloc(esc(f.name) + ": per-layer formats at this budget", f.layers, pt.formats, bits);
    var gd = document.getElementById(this.id + "-energy");
    Plotly.purge(gd);
    gd.innerHTML = "<p class=\"lb-note\">The Pareto input (" + esc(f.source) + ") holds this allocation's totals, " +
      "not its energy per layer: energy " + fmt("energy_j", pt.energy_j) + " in all.</p>";
  };
  Model.prototype.drawSpace = function () {
    var m = this.m, self = this;
    var x = document.getElementById(this.id + "-dx").value, y = document.getElementById(this.id + "-dy").value;
    var c = document.getElementById(this.id + "-dc").value, mode = document.getElementById(this.id + "-dn").value;
    var ds = this.filtered();
    var idx = ds.map(function (d) { return m.designs.indexOf(d); });
    var keys = mode === "axes" ? [x, y] : DATA.objectives.map(function (o) { return o.key; })
      .filter(function (k) { return ds.every(function (d) { return d[k] !== null && d[k] !== undefined; }); });
    var nd = nonDominated(ds.map(function (d) { return keys.map(function (k) { return d[k]; }); }));
    var ax = axis(x, ds.map(function (d) { return d[x]; })), ay = axis(y, ds.map(function (d) { return d[y]; }));
    var traces = [];
    var colourOf = function (d) {
      if (c.indexOf("param:") === 0) { return d.params[c.slice(6)]; }
      return d[c];
    };
    if (c === "base") {
      var bases = [];
      ds.forEach(function (d) { if (bases.indexOf(d.base) < 0) { bases.push(d.base); } });
      bases.forEach(function (b, bi) {
        var ii = idx.filter(function (i) { return m.designs[i].base === b; });
        traces.push({type: "scatter", mode: "markers", name: b, x: ii.map(function (i) { return m.designs[i][x] * ax.scale; }),
          y: ii.map(function (i) { return m.designs[i][y] * ay.scale; }), customdata: ii, meta: {kind: "design"},
          text: ii.map(function (i) { return designHover(m.designs[i]); }), hovertemplate: "%{text}<extra></extra>",
          marker: {size: 9, color: COLORS[bi % COLORS.length], line: {color: "#000", width: 0.5}}});
      });
    } else {
      var ctitle = c.indexOf("param:") === 0 ? c.slice(6) : OBJ[c].label + (OBJ[c].unit ? " (" + OBJ[c].unit + ")" : "");
      var has = idx.filter(function (i) { return typeof colourOf(m.designs[i]) === "number"; });
      var without = idx.filter(function (i) { return typeof colourOf(m.designs[i]) !== "number"; });
      traces.push({type: "scatter", mode: "markers", name: "designs, colour = " + ctitle,
        x: has.map(function (i) { return m.designs[i][x] * ax.scale; }),
        y: has.map(function (i) { return m.designs[i][y] * ay.scale; }), customdata: has, meta: {kind: "design"},
        text: has.map(function (i) { return designHover(m.designs[i]); }), hovertemplate: "%{text}<extra></extra>",
        marker: {size: 9, color: has.map(function (i) { return colourOf(m.designs[i]); }), colorscale: "Viridis",
          showscale: true, colorbar: {title: {text: ctitle}}, line: {color: "#000", width: 0.5}}});
      if (without.length) {
        traces.push({type: "scatter", mode: "markers", name: "designs without " + ctitle + " (grey)",
          x: without.map(function (i) { return m.designs[i][x] * ax.scale; }),
          y: without.map(function (i) { return m.designs[i][y] * ay.scale; }), customdata: without, meta: {kind: "design"},
          text: without.map(function (i) { return designHover(m.designs[i]); }), hovertemplate: "%{text}<extra></extra>",
          marker: {size: 9, symbol: "diamond", color: "#999", line: {color: "#000", width: 0.5}}});
      }
    }
    var ni = idx.filter(function (i, k) { return nd[k]; });
    traces.push({type: "scatter", mode: "markers", name: "non-dominated in " + (mode === "axes" ? "the two axes" : keys.map(function (k) { return OBJ[k].label; }).join(", ")) + " (" + ni.length + ")",
      x: ni.map(function (i) { return m.designs[i][x] * ax.scale; }), y: ni.map(function (i) { return m.designs[i][y] * ay.scale; }),
      customdata: ni, meta: {kind: "design"}, text: ni.map(function (i) { return designHover(m.designs[i]); }),
      hovertemplate: "%{text}<extra></extra>", marker: {size: 17, color: "rgba(0,0,0,0)", line: {color: "#d62728", width: 2}}});
    var gd = document.getElementById(this.id + "-space");
    return Plotly.react(gd, traces, layout({
      title: {text: esc(m.name) + ": " + ds.length + " of " + m.designs.length + " designs shown", font: {size: 14}},
      xaxis: {title: {text: ax.title}, type: spans(traces, "x") ? "log" : "linear"},
      yaxis: {title: {text: ay.title}, type: spans(traces, "y") ? "log" : "linear"}}), CONFIG).then(function () {
      if (!gd._lbClick) {
        gd._lbClick = true;
        gd.on("plotly_click", function (ev) { self.click(ev); });
      }
    });
  };
  Model.prototype.start = function () {
    var self = this, m = this.m, p = [this.drawPareto()];
    document.getElementById(this.id + "-px").addEventListener("change", function () { self.drawPareto(); });
    if (m.designs.length) {
      p.push(this.drawSpace());
      ["-dx", "-dy", "-dc", "-dn"].forEach(function (s) {
        document.getElementById(self.id + s).addEventListener("change", function () { self.drawSpace(); });
      });
      document.getElementById(this.id + "-filters").addEventListener("change", function () { self.drawSpace(); });
      var first = m.designs.filter(function (d) { return d.key === m.chosen; })[0];
      p.push(this.showDesign(first || m.designs[0], first ? m.chosen_why : "the first design"));
    } else if (m.fronts.length && m.fronts[0].points.length) {
      var f = m.fronts[0];
      this.showFront(f, f.points[f.points.length - 1]);
    }
    return Promise.all(p);
  };

  /* ------------------------------------------------------------------ start */
  function inflatePlotly() {
    if (window.Plotly) { return Promise.resolve(); }
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error("this browser has no DecompressionStream, which inflates the embedded plotly.js"));
    }
    var b64 = document.getElementById("lb-plotly").textContent.trim();
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(function (js) {
      var s = document.createElement("script");
      s.text = js;
      document.head.appendChild(s);
      if (!window.Plotly) { throw new Error("plotly.js did not load"); }
    });
  }
  inflatePlotly().then(function () {
    status.textContent = "Hover a point to see the design; click it to show its allocation and energy breakdown.";
    var models = DATA.models.map(function (m, i) { return new Model(m, i); });
    return Promise.all(models.map(function (m) { return m.start(); }));
  }).then(function () {
    document.body.setAttribute("data-lb-ready", "1");
  }).catch(function (err) {
    status.textContent = "The interactive explorer could not start: " + err.message +
      ". The static figures and tables below hold the same results.";
    status.className = "lb-error";
    document.body.setAttribute("data-lb-ready", "error");
    console.error("lowbit explorer: " + err.message);
  });
})();
