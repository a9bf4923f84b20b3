"""The inline stylesheet and script of the HTML report (no fonts, images or URLs in either).

The script only makes tables sortable by clicking a header; the page is complete without it.
"""

from __future__ import annotations

CSS = """
:root{color-scheme:light;--fg:#1f2933;--muted:#6b7785;--line:#e3e8ee;--bg:#f6f8fa;
--card:#fff;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--info:#0969da}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:24px;margin:0}h2{font-size:18px;margin:0 0 10px}h3{font-size:14px;margin:4px 0 8px}
code{font:12px/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
background:#eef1f4;padding:1px 4px;border-radius:4px;word-break:break-all}
header,section{background:var(--card);border:1px solid var(--line);border-radius:8px;
padding:16px 18px;margin:0 0 16px}
.title{display:flex;align-items:center;gap:12px;flex-wrap:wrap}
.sid{margin:4px 0 10px;color:var(--muted)}
dl.meta{display:flex;flex-wrap:wrap;gap:6px 22px;margin:0}
dl.meta div{min-width:90px}dt{color:var(--muted);font-size:12px}dd{margin:0;font-weight:600}
.badge{display:inline-block;padding:2px 9px;border-radius:999px;font-size:12px;
font-weight:600;border:1px solid currentColor;white-space:nowrap}
.badge.ok{color:var(--ok);background:#dafbe1}.badge.bad{color:var(--bad);background:#ffebe9}
.badge.warn{color:var(--warn);background:#fff8c5}.badge.info{color:var(--info);background:#ddf4ff}
.badge.muted{color:var(--muted);background:#f0f2f4}
.muted{color:var(--muted)}.nodata{color:var(--muted);font-style:italic;margin:6px 0}
section.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(124px,1fr));gap:10px;
padding:12px}
.tile{border:1px solid var(--line);border-radius:6px;padding:8px 10px}
.tile .k{color:var(--muted);font-size:12px}.tile .v{font-size:20px;font-weight:700}
.tile .s{color:var(--muted);font-size:11px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;cursor:pointer;user-select:none;
white-space:nowrap;background:#fafbfc}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td code,td.nw{white-space:nowrap}
td.msg{max-width:360px;overflow-wrap:anywhere}
tr.status-fail td{background:#fff5f5}
.detail{color:var(--muted);font-size:12px}
.tier{font-size:11px;text-transform:uppercase;letter-spacing:.04em;font-weight:700}
.tier.critical{color:var(--bad)}.tier.important{color:var(--warn)}.tier.bonus{color:var(--info)}
.tally{margin:0 0 8px;color:var(--muted)}
.bar{display:inline-block;width:60px;height:8px;background:#eef1f4;border-radius:4px;
margin-right:6px;vertical-align:middle;overflow:hidden}
.bar.wide{width:100%}.bar i{display:block;height:100%;background:#4c78a8}
.lang{display:grid;grid-template-columns:110px 1fr 70px;gap:8px;align-items:center;margin:3px 0}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:24px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
figure.card{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px}
figcaption{font-weight:600;font-size:13px;margin:0 0 4px}
svg{display:block;width:100%;height:auto;font-size:11px}
svg .grid{stroke:#e8ecf0;stroke-width:1}
svg .tick{fill:var(--muted)}svg .lane{fill:var(--fg);font-weight:600}
svg .line{fill:none;stroke-width:2;stroke-linejoin:round}svg .area{opacity:.12}
svg .hover{fill:transparent}svg .hover:hover,svg .dot{fill:var(--fg)}
svg .barlabel{fill:#fff;font-weight:600}
svg .mk.checkpoint,.lg.checkpoint{fill:#4c78a8;color:#4c78a8}
svg .mk.failure,.lg.failure{fill:#e15759;color:#e15759}
svg .mk.recovery,.lg.recovery{fill:#59a14f;color:#59a14f}
svg .mk.event,.lg.event{fill:#9c755f;color:#9c755f}
svg .mk{stroke:#fff;stroke-width:1}svg .mk:hover{stroke:var(--fg)}
.legend{margin:0 0 6px;font-size:12px}
.grade{font-weight:700;text-transform:capitalize}
.grade-excellent{color:var(--ok)}.grade-good{color:#2f81f7}.grade-target{color:var(--warn)}
.grade-below{color:var(--bad)}.grade-unknown{color:var(--muted)}
details summary{cursor:pointer;color:var(--muted);font-size:12px}details ul{margin:4px 0}
details.config{margin-top:10px}details.config dl{margin-top:6px}
footer{color:var(--muted);font-size:12px;text-align:center}
@media (max-width:720px){.cols{grid-template-columns:1fr}}
@media print{*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{background:#fff;font-size:12px}main{max-width:none;padding:0}
header,section{break-inside:avoid;border-color:#ccc}.scroll{overflow:visible}
th{cursor:default}}
"""

SCRIPT = """
(function(){
  function key(td){
    if(!td){return "";}
    var v=td.getAttribute("data-v");
    return v===null?td.textContent.trim().toLowerCase():parseFloat(v);
  }
  document.querySelectorAll("table.sortable thead th").forEach(function(th){
    th.addEventListener("click",function(){
      var table=th.closest("table"),body=table.tBodies[0],i=th.cellIndex;
      var asc=th.getAttribute("aria-sort")!=="ascending";
      table.querySelectorAll("th").forEach(function(h){h.removeAttribute("aria-sort");});
      th.setAttribute("aria-sort",asc?"ascending":"descending");
      var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){
        var x=key(a.cells[i]),y=key(b.cells[i]);
        if(x<y){return asc?-1:1;}
        if(x>y){return asc?1:-1;}
        return 0;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
})();
"""
