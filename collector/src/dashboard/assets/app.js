// rum dashboard: confirmations and live updates. Every page works without this script.
"use strict";
(function () {
  // Forms with data-confirm ask first (the server also requires the confirm box on kills).
  // A submitted form stops the live refresh: the change it makes would otherwise trigger a
  // background fetch of this page that takes the one-shot flash meant for the page it leads to.
  var leaving = false, es = null, confirmed = null;

  // The confirmation is an in-page modal dialog (not window.confirm): keyboard users get focus
  // inside it on the harmless choice, Tab between its two buttons, Escape to cancel, and focus
  // back on the button that opened it.
  function ask(form, submitter, msg) {
    var d = document.createElement("dialog");
    d.className = "confirm";
    d.setAttribute("role", "alertdialog");
    d.setAttribute("aria-modal", "true");
    d.setAttribute("aria-labelledby", "confirm-text");
    var p = document.createElement("p");
    p.id = "confirm-text";
    p.textContent = msg;
    var actions = document.createElement("div");
    actions.className = "actions";
    var cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = "Cancel";
    var ok = document.createElement("button");
    ok.type = "button";
    ok.className = submitter && submitter.classList.contains("danger") ? "danger" : "";
    ok.textContent = (submitter && submitter.textContent) || "Confirm";
    ok.setAttribute("data-confirm-ok", "");
    cancel.addEventListener("click", function () { d.close("cancel"); });
    ok.addEventListener("click", function () { d.close("ok"); });
    actions.appendChild(cancel);
    actions.appendChild(ok);
    d.appendChild(p);
    d.appendChild(actions);
    d.addEventListener("close", function () {
      var yes = d.returnValue === "ok";
      d.remove();
      if (yes) {
        confirmed = form;
        if (form.requestSubmit) { form.requestSubmit(submitter || undefined); } else { form.submit(); }
      } else if (submitter) {
        submitter.focus();
      }
    });
    document.body.appendChild(d);
    d.showModal();
    cancel.focus();
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    var msg = form.getAttribute && form.getAttribute("data-confirm");
    if (msg && confirmed !== form) {
      e.preventDefault();
      if (typeof HTMLDialogElement === "function") { ask(form, e.submitter, msg); }
      else if (window.confirm(msg)) { confirmed = form; form.submit(); }
      return;
    }
    confirmed = null;
    leaving = true;
    if (es) { es.close(); }
  });

  var live = document.body.getAttribute("data-live");
  if (!live || !window.EventSource) { return; }
  var seen = {};
  var status = document.getElementById("live-status");
  function busy() {
    // Never replace the page under someone typing, with a form half filled, in a confirmation,
    // or with the keyboard focus inside the content (replacing it would lose their place).
    var a = document.activeElement;
    if (document.querySelector("dialog[open]")) { return true; }
    if (!a || a === document.body) { return false; }
    var main = document.getElementById("main");
    return a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA" ||
      (main !== null && main.contains(a) && a.matches(":focus-visible"));
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
