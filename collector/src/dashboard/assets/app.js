// rum dashboard: confirmations and live updates. Every page works without this script.
"use strict";
(function () {
  // Forms with data-confirm ask first (the server also requires the confirm box on kills).
  // A submitted form stops the live refresh: the change it makes would otherwise trigger a
  // background fetch of this page that takes the one-shot flash meant for the page it leads to.
  var leaving = false, es = null;
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); return; }
    leaving = true;
    if (es) { es.close(); }
  });

  var live = document.body.getAttribute("data-live");
  if (!live || !window.EventSource) { return; }
  var seen = {};
  var status = document.getElementById("live-status");
  function busy() {
    // Never replace the page under someone typing or with a form half filled.
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA");
  }
  function refresh(what) {
    if (leaving) { return; }
    if (busy()) {
      if (status) { status.textContent = what + " changed: reload the page to see it."; }
      return;
    }
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var next = doc.getElementById("main");
        var main = document.getElementById("main");
        if (!next || !main) { return; }
        main.innerHTML = next.innerHTML;
        var s = document.getElementById("live-status");
        if (s) { s.textContent = what + " updated at " + new Date().toLocaleTimeString(); }
      })
      .catch(function () {});
  }
  es = new EventSource(live);
  var labels = { flags: "Flags", alerts: "Alerts", checks: "Checks" };
  ["flags", "alerts", "checks"].forEach(function (name) {
    es.addEventListener(name, function (e) {
      if (seen[name] !== undefined && seen[name] !== e.data) { refresh(labels[name]); }
      seen[name] = e.data;
    });
  });
})();
