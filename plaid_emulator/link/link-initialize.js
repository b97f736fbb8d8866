/*
 * Plaid Link stand-in (offline emulator). Same browser API as Plaid's
 * link-initialize.js: window.Plaid.create({token, onSuccess, onExit, onEvent,
 * onLoad, receivedRedirectUri}) -> {open(), exit(opts), destroy(), submit()}.
 *
 * OAuth (redirect flow): when the frame leaves for an OAuth institution, the
 * whole page goes to the emulator's bank page (only URLs on the emulator's
 * origin are followed); created again with receivedRedirectUri, Link resumes.
 *
 * open() adds a full-page overlay holding an iframe served by the emulator
 * (its own origin). The iframe talks back with postMessage; messages are
 * accepted only from the emulator's origin and from that iframe's window.
 * Sets styles through the CSSOM (element.style), which a strict CSP allows.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var EMULATOR_ORIGIN = new URL(script && script.src ? script.src : window.location.href).origin;
  var MESSAGE_SOURCE = "plaid-emulator-link";
  var counter = 0;

  function call(fn) {
    if (typeof fn !== "function") return;
    var args = Array.prototype.slice.call(arguments, 1);
    try {
      fn.apply(null, args);
    } catch (err) {
      setTimeout(function () { throw err; }, 0);
    }
  }

  function create(config) {
    config = config || {};
    if (!config.token) {
      throw new Error("Plaid.create: token (a link token from /link/token/create) is required");
    }
    var overlay = null;
    var iframe = null;
    var isOpen = false;
    var destroyed = false;
    var lastInstitution = null;
    var linkSessionId = null;
    var previousFocus = null;

    function onMessage(event) {
      if (!iframe || event.origin !== EMULATOR_ORIGIN || event.source !== iframe.contentWindow) {
        return;
      }
      var data = event.data;
      if (!data || data.source !== MESSAGE_SOURCE) return;
      if (data.link_session_id) linkSessionId = data.link_session_id;
      if (data.institution) lastInstitution = data.institution;
      if (data.type === "event") {
        call(config.onEvent, data.eventName, data.metadata || {});
      } else if (data.type === "success") {
        call(config.onEvent, "HANDOFF", eventMeta("HANDOFF"));
        close();
        call(config.onSuccess, data.public_token, data.metadata);
      } else if (data.type === "redirect") {
        var target = null;
        try {
          target = new URL(data.url);
        } catch (e) {
          target = null;
        }
        if (!target || target.origin !== EMULATOR_ORIGIN) return;
        call(config.onEvent, "OPEN_OAUTH", eventMeta("OPEN_OAUTH"));
        close();
        window.location.assign(target.href);
      } else if (data.type === "exit") {
        call(config.onEvent, "EXIT", eventMeta("EXIT"));
        close();
        call(config.onExit, data.error || null, exitMeta(data.status));
      }
    }

    function onKey(event) {
      if (event.key === "Escape" && isOpen) {
        event.preventDefault();
        userExit();
      }
    }

    function eventMeta(name) {
      return {
        view_name: null,
        institution_id: lastInstitution ? lastInstitution.institution_id : null,
        institution_name: lastInstitution ? lastInstitution.name : null,
        link_session_id: linkSessionId,
        request_id: null,
        timestamp: new Date().toISOString(),
        event_name: name
      };
    }

    function exitMeta(status) {
      return {
        institution: lastInstitution,
        status: status || null,
        link_session_id: linkSessionId,
        request_id: null
      };
    }

    function userExit() {
      call(config.onEvent, "EXIT", eventMeta("EXIT"));
      close();
      call(config.onExit, null, exitMeta(null));
    }

    function close() {
      isOpen = false;
      window.removeEventListener("message", onMessage);
      document.removeEventListener("keydown", onKey);
      if (overlay && overlay.parentNode) overlay.parentNode.removeChild(overlay);
      overlay = null;
      iframe = null;
      if (previousFocus && typeof previousFocus.focus === "function") previousFocus.focus();
    }

    function open() {
      if (destroyed || isOpen) return;
      isOpen = true;
      counter += 1;
      previousFocus = document.activeElement;
      overlay = document.createElement("div");
      overlay.id = "plaid-link-overlay-" + counter;
      overlay.setAttribute("data-plaid-emulator", "overlay");
      var s = overlay.style;
      s.position = "fixed";
      s.top = "0";
      s.left = "0";
      s.width = "100%";
      s.height = "100%";
      s.zIndex = "2147483647";
      s.background = "rgba(0, 0, 0, 0.5)";
      s.display = "flex";
      s.alignItems = "center";
      s.justifyContent = "center";
      iframe = document.createElement("iframe");
      iframe.id = "plaid-link-iframe-" + counter;
      iframe.name = "plaid-link-iframe";
      iframe.title = "Plaid Link";
      iframe.setAttribute("allow", "");
      var f = iframe.style;
      f.width = "min(420px, 100%)";
      f.height = "min(640px, 100%)";
      f.border = "0";
      f.borderRadius = "12px";
      f.background = "#fff";
      iframe.src =
        EMULATOR_ORIGIN +
        "/link/frame?token=" + encodeURIComponent(config.token) +
        "&origin=" + encodeURIComponent(window.location.origin) +
        (config.receivedRedirectUri
          ? "&received_redirect_uri=" + encodeURIComponent(config.receivedRedirectUri)
          : "");
      window.addEventListener("message", onMessage);
      document.addEventListener("keydown", onKey);
      overlay.appendChild(iframe);
      document.body.appendChild(overlay);
      iframe.addEventListener("load", function () {
        if (iframe) iframe.focus();
      });
      call(config.onEvent, "OPEN", eventMeta("OPEN"));
    }

    var handler = {
      open: open,
      exit: function (opts) {
        if (!isOpen) return;
        userExit();
        return opts;
      },
      destroy: function () {
        destroyed = true;
        if (isOpen) close();
      },
      submit: function () {}
    };
    setTimeout(function () { call(config.onLoad); }, 0);
    return handler;
  }

  window.Plaid = { create: create, version: "emulator-2020-09-14" };
})();
