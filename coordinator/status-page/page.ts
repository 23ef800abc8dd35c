/**
 * The status page itself: one HTML document with its CSS and script inline
 * (no fonts, no CDN, nothing fetched but this coordinator's own /api/stream),
 * and the Content-Security-Policy that allows exactly that inline CSS and
 * script by hash. The sections come rendered (render.ts); the script only
 * swaps them when the stream sends new ones, shows the connection, reconnects
 * with back-off and writes times in local time.
 */
import { createHash } from "node:crypto";
import { esc, type Sections } from "./render.js";

const STYLE = `
:root{color-scheme:light dark;--bg:hsl(220 20% 97%);--fg:hsl(220 15% 16%);--card:hsl(0 0% 100%);--line:hsl(220 15% 87%);--sub:hsl(220 9% 44%);
--ok:hsl(145 63% 28%);--ok-bg:hsl(145 55% 92%);--warn:hsl(32 95% 32%);--warn-bg:hsl(42 95% 89%);--bad:hsl(0 68% 44%);--bad-bg:hsl(0 85% 94%);
--info:hsl(215 70% 40%);--info-bg:hsl(215 85% 94%);--muted:hsl(220 9% 40%);--muted-bg:hsl(220 15% 92%);--hl:hsl(145 55% 95%);--edge:hsl(220 20% 30% / .3);
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:hsl(220 16% 9%);--fg:hsl(220 15% 90%);--card:hsl(220 15% 13%);--line:hsl(220 12% 23%);--sub:hsl(220 10% 63%);
--ok:hsl(145 55% 62%);--ok-bg:hsl(145 40% 17%);--warn:hsl(40 90% 62%);--warn-bg:hsl(38 55% 18%);--bad:hsl(0 80% 70%);--bad-bg:hsl(0 45% 20%);
--info:hsl(212 85% 72%);--info-bg:hsl(215 40% 20%);--muted:hsl(220 10% 66%);--muted-bg:hsl(220 12% 20%);--hl:hsl(145 30% 14%);--edge:hsl(0 0% 0% / .55)}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.top{position:sticky;top:0;z-index:1;display:flex;align-items:center;gap:.75rem;padding:.6rem max(1rem,env(safe-area-inset-left));background:var(--card);border-bottom:1px solid var(--line)}
.top h1{font-size:1.1rem;margin:0;font-weight:650}
.top .grow{flex:1}
.top a{color:var(--sub);font-size:.85rem}
main{max-width:1280px;margin:0 auto;padding:1rem}
h2{font-size:1rem;margin:1.5rem 0 .6rem;text-transform:uppercase;letter-spacing:.04em;color:var(--sub);font-weight:600}
h3{font-size:1.05rem;margin:0}
p{margin:.3rem 0}
.summary{font-size:1.15rem;font-weight:600}
.summary.ok{color:var(--ok)}.summary.warn{color:var(--warn)}.summary.bad{color:var(--bad)}
.meta,.sub{color:var(--sub);font-size:.85rem}
.metas{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.notice{padding:.5rem .75rem;border-radius:6px;margin:.5rem 0}
.notice.warn{background:var(--warn-bg);color:var(--warn)}.notice.bad{background:var(--bad-bg);color:var(--bad)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,27rem),1fr));gap:1rem}
.card{background:var(--card);border:1px solid var(--line);border-left:5px solid var(--muted);border-radius:8px;padding:.8rem .9rem;min-width:0}
.card.ok{border-left-color:var(--ok)}.card.warn{border-left-color:var(--warn)}.card.bad{border-left-color:var(--bad)}
.card header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem .75rem}
.vips{font-family:var(--mono);font-size:.85rem;color:var(--sub);overflow-wrap:anywhere}
.holderline strong{font-size:1.05rem}
strong.bad{color:var(--bad)}
.reason{color:var(--sub);font-size:.9rem;overflow-wrap:anywhere}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin-top:.5rem;
background:linear-gradient(to right,var(--card) 40%,transparent) left/1.5rem 100% no-repeat local,linear-gradient(to left,var(--card) 40%,transparent) right/1.5rem 100% no-repeat local,
radial-gradient(farthest-side at 0 50%,var(--edge),transparent) left/.6rem 100% no-repeat scroll,radial-gradient(farthest-side at 100% 50%,var(--edge),transparent) right/.6rem 100% no-repeat scroll}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.3rem .45rem;border-bottom:1px solid var(--line);white-space:nowrap;vertical-align:top}
thead th{font-weight:600;color:var(--sub);font-size:.8rem}
tbody th{font-weight:600}
.num{text-align:right}
tr.holder{background:var(--hl)}
tr.holder th{color:var(--ok)}
.star{color:var(--ok)}
tr.why td{white-space:normal;color:var(--bad);font-size:.85rem;padding-top:0}
tr.applied th{font-weight:500;color:var(--sub)}
.upstream tr.applied th{font-family:inherit}
.upstream{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.8rem .9rem;margin-bottom:1rem}
.upstream th[scope=row]{font-family:var(--mono);font-weight:500}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:999px;font-size:.8rem;font-weight:600;white-space:nowrap}
.badge.ok{background:var(--ok-bg);color:var(--ok)}.badge.warn{background:var(--warn-bg);color:var(--warn)}.badge.bad{background:var(--bad-bg);color:var(--bad)}
.badge.info{background:var(--info-bg);color:var(--info)}.badge.muted{background:var(--muted-bg);color:var(--muted)}
.cols{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:0 1.5rem}
@media (max-width:900px){.cols{grid-template-columns:minmax(0,1fr)}}
.timeline,.events{list-style:none;margin:0;padding:0}
.entry{display:grid;grid-template-columns:5.5rem minmax(0,1fr);gap:.6rem;padding:.55rem .2rem;border-bottom:1px solid var(--line)}
.entry .when{color:var(--sub);font-variant-numeric:tabular-nums;font-size:.85rem;padding-top:.1rem}
.entry .move{font-weight:650}
.entry.is-note .move{font-weight:500}
.figs{display:flex;flex-wrap:wrap;gap:.35rem}
.fig{font-size:.8rem;border:1px solid var(--line);border-radius:5px;padding:.05rem .4rem;font-variant-numeric:tabular-nums}
.fig .label{color:var(--sub)}
.fig.ok{border-color:var(--ok)}.fig.warn{border-color:var(--warn)}.fig.bad{border-color:var(--bad);color:var(--bad)}
.events li{padding:.35rem .2rem;border-bottom:1px solid var(--line);font-size:.88rem;overflow-wrap:anywhere}
.events time{color:var(--sub);font-variant-numeric:tabular-nums;margin-right:.25rem}
.empty{color:var(--sub);font-style:italic}
.conn{font-size:.8rem;font-weight:600;padding:.15rem .55rem;border-radius:999px;background:var(--muted-bg);color:var(--muted);white-space:nowrap}
.conn[data-state=live]{background:var(--ok-bg);color:var(--ok)}
.conn[data-state=down]{background:var(--bad-bg);color:var(--bad)}
.conn[data-state=connecting]{background:var(--warn-bg);color:var(--warn)}
footer{color:var(--sub);font-size:.8rem;text-align:center;padding:1.5rem 1rem}
@media (max-width:480px){.prio .sub{display:block}body{font-size:14px}main{padding:.6rem}.card,.upstream{padding:.65rem}.card{border-left-width:4px}.entry{grid-template-columns:minmax(0,1fr);gap:.1rem}th,td{padding:.28rem .25rem}th:first-child,td:first-child{padding-left:.15rem}
.top{flex-wrap:wrap;row-gap:.35rem;padding:.5rem .6rem}.top h1{white-space:nowrap}td.sub{white-space:normal}.upstream thead{display:none}.upstream table,.upstream tbody{display:block}
.upstream tr{display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem .5rem;padding:.45rem .15rem;border-bottom:1px solid var(--line)}
.upstream th,.upstream td{padding:0;border:0}.upstream th[scope=row]{flex-basis:100%}.upstream td.num{text-align:left}
.upstream td[data-label]::before{content:attr(data-label) " ";color:var(--sub);font-size:.8rem}.upstream td[data-label=override]:has(>.sub){display:none}}
`;

const SCRIPT = `
(function () {
  "use strict";
  var ids = ["header", "groups", "upstreams", "timeline", "events"];
  var shown = {};
  var conn = document.getElementById("conn");
  var updated = document.getElementById("updated");
  var lastMs = Date.now();
  var delay = 1000;
  var source = null;
  var retryTimer = null;
  var countdown = null;
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function localTimes(root) {
    var today = new Date().toDateString();
    var els = (root || document).querySelectorAll("time[data-ms]");
    for (var i = 0; i < els.length; i++) {
      var d = new Date(Number(els[i].getAttribute("data-ms")));
      if (isNaN(d.getTime())) continue;
      var hms = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
      els[i].textContent = d.toDateString() === today ? hms : d.toLocaleDateString() + " " + hms;
      els[i].title = d.toString();
    }
  }
  function setConn(state, text) { conn.setAttribute("data-state", state); conn.textContent = text; }
  function apply(data) {
    var html = data && data.html;
    if (!html) return;
    for (var i = 0; i < ids.length; i++) {
      var id = ids[i];
      if (typeof html[id] !== "string" || shown[id] === html[id]) continue;
      var el = document.getElementById(id);
      if (!el) continue;
      el.innerHTML = html[id];
      shown[id] = html[id];
      localTimes(el);
    }
    lastMs = Date.now();
    tick();
  }
  function tick() {
    var s = Math.round((Date.now() - lastMs) / 1000);
    updated.textContent = s < 2 ? "just now" : s < 120 ? s + " s ago" : Math.round(s / 60) + " min ago";
  }
  function connect() {
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    if (countdown) { clearInterval(countdown); countdown = null; }
    setConn("connecting", "connecting…");
    var es = new EventSource("api/stream");
    source = es;
    es.addEventListener("open", function () { delay = 1000; setConn("live", "live"); });
    es.addEventListener("status", function (m) {
      try { apply(JSON.parse(m.data)); } catch (e) { /* a bad message: keep the last good view */ }
    });
    es.addEventListener("error", function () {
      if (source !== es) return;
      es.close();
      source = null;
      retry();
    });
  }
  function retry() {
    var wait = delay + Math.floor(Math.random() * 500);
    delay = Math.min(delay * 2, 30000);
    var until = Date.now() + wait;
    var show = function () { setConn("down", "disconnected, retrying in " + Math.max(0, Math.ceil((until - Date.now()) / 1000)) + " s"); };
    show();
    countdown = setInterval(show, 1000);
    retryTimer = setTimeout(connect, wait);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !source) { delay = 1000; connect(); }
  });
  for (var i = 0; i < ids.length; i++) {
    var el = document.getElementById(ids[i]);
    if (el) shown[ids[i]] = el.innerHTML;
  }
  localTimes(document);
  setInterval(tick, 1000);
  if (typeof EventSource === "function") connect();
  else setConn("down", "no live updates in this browser: reload for news");
})();
`;

const sha256 = (text: string): string => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/** Only this page's own inline CSS and script run; it talks to nobody but this listener. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The whole document with the sections as they are now (the page is useful before the stream connects, or without script). */
export function pageDocument(sections: Sections, title = "keepvip status"): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<div class="top"><h1>keepvip status</h1><span class="grow"></span><a href="api/status">JSON</a><span id="conn" class="conn" data-state="connecting">loading…</span></div>
<main>
<section id="header" aria-live="polite">${sections.header}</section>
<noscript><p class="notice warn">Without JavaScript this page shows the cluster as it was when loaded: reload it for news.</p></noscript>
<h2>Groups</h2>
<div id="groups" class="cards">${sections.groups}</div>
<h2>Upstreams</h2>
<div id="upstreams">${sections.upstreams}</div>
<div class="cols">
<section><h2>Timeline of moves</h2><div id="timeline">${sections.timeline}</div></section>
<section><h2>Recent events</h2><div id="events">${sections.events}</div></section>
</div>
</main>
<footer>read-only · updated <span id="updated">just now</span></footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
