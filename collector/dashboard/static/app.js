// Picket dashboard: show times in the viewer's zone and refresh the live
// part of the page without reloading it. No dependencies, no inline code.
(function () {
  "use strict";
  var dateFmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
  var tickTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  var tickDay = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

  // localize rewrites <time datetime> elements and chart ticks in the
  // viewer's time zone; their title keeps UTC for hover.
  function localize(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var d = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(d)) { times[i].textContent = dateFmt.format(d); }
    }
    var ticks = root.querySelectorAll("text[data-ts]");
    for (var j = 0; j < ticks.length; j++) {
      var t = new Date(Number(ticks[j].getAttribute("data-ts")));
      var f = ticks[j].getAttribute("data-fmt") === "day" ? tickDay : tickTime;
      // Keep the <title> child (UTC) and replace only the text node.
      var node = ticks[j].lastChild;
      if (node && node.nodeType === 3) { node.nodeValue = f.format(t); }
    }
  }

  function refresh(live, seconds) {
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) { return; }
      busy = true;
      var url = new URL(window.location.href);
      url.searchParams.set("fragment", "1");
      fetch(url.toString(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (resp) {
          if (resp.status === 401) {
            window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
            return null;
          }
          return resp.ok ? resp.text() : null;
        })
        .then(function (html) {
          if (html === null) { return; }
          // Parse off-document, then swap in one step: no flicker, and the
          // scroll position stays where it was.
          var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
          var fresh = doc.body.firstChild;
          localize(fresh);
          live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
          var stamp = document.getElementById("updated");
          if (stamp) { stamp.textContent = "; last updated " + tickTime.format(new Date()); }
        })
        .catch(function () { /* keep the current data; try again next tick */ })
        .finally(function () { busy = false; });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    var live = document.getElementById("live");
    var seconds = live && Number(live.getAttribute("data-refresh"));
    if (seconds > 0) { refresh(live, seconds); }
    document.documentElement.setAttribute("data-ready", "1");
  });
})();
