// Switchyard console: the admin token, and the live stream that refreshes the pages.
//
// The token is asked for once and kept in this tab's sessionStorage. htmx sends it as
// `Authorization: Bearer` on every request it makes (htmx:configRequest). The live stream,
// GET /api/stream?digest=…, is read with fetch() rather than EventSource, because EventSource cannot
// send headers and the token must not go into a URL (URLs end up in logs and history).
// The gateway sends at most one digest (counts by kind) per REFRESH_MS; each schedules one
// `sy:refresh` event on <body>, which the page's live parts listen for
// (hx-trigger="sy:refresh from:body").
(function () {
  "use strict";
  var KEY = "switchyard.admin-token";
  var REFRESH_MS = 1000;
  var RETRY_FIRST_MS = 1000;
  var RETRY_MAX_MS = 10000;

  function token() {
    try { return sessionStorage.getItem(KEY) || ""; } catch (e) { return ""; }
  }

  function headers() {
    var t = token();
    return t ? { "Authorization": "Bearer " + t } : {};
  }

  function status(text) {
    var el = document.getElementById("live-status");
    if (el) { el.textContent = text; }
  }

  function showPrompt(message) {
    var prompt = document.getElementById("token-prompt");
    if (!prompt) { return; }
    var note = document.getElementById("token-note");
    if (note && message) { note.textContent = message; }
    prompt.hidden = false;
    var input = document.getElementById("token-input");
    if (input) { input.focus(); }
  }

  document.addEventListener("htmx:configRequest", function (e) {
    var t = token();
    if (t) { e.detail.headers["Authorization"] = "Bearer " + t; }
  });

  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    if (xhr && xhr.status === 401) {
      showPrompt(token() ? "That token was refused. Enter the admin token again." : "");
      return;
    }
    var box = document.getElementById("console-error");
    if (box && xhr) {
      box.textContent = "The gateway answered " + xhr.status + ". " + (xhr.responseText || "").slice(0, 300);
      box.hidden = false;
    }
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    var box = document.getElementById("console-error");
    if (box && e.detail.successful) { box.hidden = true; }
  });

  // Refreshes at most once per REFRESH_MS, and always after the last happening.
  var pending = null;
  function scheduleRefresh() {
    if (pending !== null) { return; }
    pending = setTimeout(function () {
      pending = null;
      if (window.htmx) { htmx.trigger(document.body, "sy:refresh"); }
    }, REFRESH_MS);
  }

  // One block of an event stream: "event: NAME" and "data: …" lines.
  function dispatch(block) {
    var name = "message", data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) { name = line.slice(6).trim(); }
      else if (line.indexOf("data:") === 0) { data += line.slice(5).trim(); }
    });
    if (!data) { return; }
    var detail = null;
    try { detail = JSON.parse(data); } catch (e) { detail = data; }
    document.body.dispatchEvent(new CustomEvent("sy:happening", { detail: { kind: name, happening: detail } }));
    scheduleRefresh();
  }

  var controller = null;
  var retry = RETRY_FIRST_MS;
  function follow() {
    if (controller) { controller.abort(); }
    controller = new AbortController();
    var mine = controller;
    status("Live: connecting…");
    fetch("/api/stream?digest=" + REFRESH_MS, { headers: headers(), signal: mine.signal, cache: "no-store" }).then(function (response) {
      if (response.status === 401) {
        status("Live: waiting for the admin token");
        showPrompt("");
        return null;
      }
      if (!response.ok || !response.body) { throw new Error("stream answered " + response.status); }
      status("Live: connected");
      retry = RETRY_FIRST_MS;
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function read() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { throw new Error("stream ended"); }
          buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
          var end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
          return read();
        });
      }
      return read();
    }).catch(function () {
      if (mine.signal.aborted) { return; }
      status("Live: reconnecting in " + Math.round(retry / 1000) + " s");
      setTimeout(function () { if (controller === mine) { follow(); } }, retry);
      retry = Math.min(retry * 2, RETRY_MAX_MS);
    });
  }

  // A page kept in the back/forward cache would keep its stream, and with it one of the
  // browser's six connections to the gateway: a few pages later, nothing else could load.
  window.addEventListener("pagehide", function () {
    if (controller) { controller.abort(); controller = null; }
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) { follow(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("token-form");
    if (form) {
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var input = document.getElementById("token-input");
        var value = input ? input.value.trim() : "";
        if (!value) { return; }
        try { sessionStorage.setItem(KEY, value); } catch (err) { /* private mode: this page only */ }
        if (input) { input.value = ""; }
        document.getElementById("token-prompt").hidden = true;
        htmx.trigger(document.body, "sy:token");
        follow();
      });
    }
    var forget = document.getElementById("forget-token");
    if (forget) {
      forget.addEventListener("click", function () {
        try { sessionStorage.removeItem(KEY); } catch (err) { /* nothing kept */ }
        if (controller) { controller.abort(); }
        status("Live: stopped");
        showPrompt("The token is forgotten in this tab.");
      });
    }
    follow();
  });
})();
