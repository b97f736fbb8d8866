/*
 * Link stand-in frame: institution picker -> sandbox login -> account list.
 * OAuth institutions (link token with a redirect_uri): picker -> the bank's page
 * (the whole browser leaves) -> back with received_redirect_uri -> account list.
 * A login error other than wrong credentials (INSTITUTION_DOWN, ITEM_LOCKED...)
 * ends on the error view; its Exit button hands Plaid's error to onExit.
 * Runs inside the iframe that link-initialize.js opens; talks to the parent
 * page only through postMessage(targetOrigin = the parent's origin) and to the
 * emulator through same-origin fetch() to /link/api/*. No inline script/style.
 */
(function () {
  "use strict";
  var SOURCE = "plaid-emulator-link";
  var params = new URLSearchParams(window.location.search);
  var linkToken = params.get("token") || "";
  var receivedRedirectUri = params.get("received_redirect_uri");
  // Login errors the user can fix by typing again; any other one ends the session.
  var RETRY_CODES = ["INVALID_CREDENTIALS", "INVALID_MFA", "INVALID_SEND_METHOD"];
  var parentOrigin = null;
  try {
    parentOrigin = new URL(params.get("origin") || "").origin;
  } catch (e) {
    parentOrigin = null;
  }
  var session = null;
  var institution = null;
  var currentView = null;
  var finished = false;

  function $(id) { return document.getElementById(id); }

  function post(message) {
    if (!parentOrigin || parentOrigin === "null" || window.parent === window) return;
    message.source = SOURCE;
    message.link_session_id = session ? session.link_session_id : null;
    message.institution = institution;
    window.parent.postMessage(message, parentOrigin);
  }

  function event(name, extra) {
    var meta = {
      view_name: currentView,
      institution_id: institution ? institution.institution_id : null,
      institution_name: institution ? institution.name : null,
      link_session_id: session ? session.link_session_id : null,
      timestamp: new Date().toISOString()
    };
    if (extra) for (var k in extra) meta[k] = extra[k];
    post({ type: "event", eventName: name, metadata: meta });
  }

  function api(step, body) {
    body.link_token = linkToken;
    if (session) body.link_session_id = session.link_session_id;
    return fetch("/link/api/" + step, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit"
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) {
          var err = new Error(data.display_message || data.error_message || "Request failed");
          err.plaid = data;
          throw err;
        }
        return data;
      });
    });
  }

  var VIEWS = ["view-institutions", "view-login", "view-accounts", "view-error"];
  var VIEW_NAMES = {
    "view-institutions": "SELECT_INSTITUTION",
    "view-login": "CREDENTIAL",
    "view-accounts": "SELECT_ACCOUNT",
    "view-error": "ERROR"
  };

  function show(id, focusId) {
    $("status").hidden = true;
    VIEWS.forEach(function (v) { $(v).hidden = v !== id; });
    currentView = VIEW_NAMES[id];
    event("TRANSITION_VIEW");
    var target = focusId ? $(focusId) : null;
    if (target) target.focus();
  }

  function fatal(err) {
    $("fatal-error").textContent = err.message;
    $("fatal-error").dataset.errorCode = err.plaid ? err.plaid.error_code : "";
    show("view-error", "exit");
    fatal.error = err.plaid || null;
  }

  function exitStatus() {
    if (currentView === "CREDENTIAL") return "requires_credentials";
    if (currentView === "SELECT_ACCOUNT") return "requires_account_selection";
    if (currentView === "SELECT_INSTITUTION") return "institution_not_found";
    return null;
  }

  function exit(error) {
    if (finished) return;
    finished = true;
    post({ type: "exit", error: error || null, status: exitStatus() });
  }

  // -- institution picker ---------------------------------------------------
  function renderInstitutions() {
    var q = $("search").value.trim().toLowerCase();
    var list = $("institution-list");
    list.textContent = "";
    session.institutions.forEach(function (inst) {
      if (q && inst.name.toLowerCase().indexOf(q) === -1) return;
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button";
      b.className = "institution";
      b.id = "institution-" + inst.institution_id;
      b.dataset.institutionId = inst.institution_id;
      b.textContent = inst.name;
      b.addEventListener("click", function () { pickInstitution(inst); });
      li.appendChild(b);
      list.appendChild(li);
    });
  }

  function pickInstitution(inst) {
    institution = inst;
    event("SELECT_INSTITUTION");
    if (inst.oauth && session.redirect) {
      leaveForOAuth();
      return;
    }
    $("login-title").textContent = "Log in to " + inst.name;
    $("login-error").hidden = true;
    $("username").value = "";
    $("password").value = "";
    show("view-login", "username");
  }

  // -- OAuth: the whole page goes to the bank, then comes back -----------------
  function leaveForOAuth() {
    $("status").textContent = "Opening " + institution.name + "\u2026";
    VIEWS.forEach(function (v) { $(v).hidden = true; });
    $("status").hidden = false;
    event("OPEN_OAUTH");
    api("oauth", { institution_id: institution.institution_id }).then(function (data) {
      finished = true;
      post({ type: "redirect", url: new URL(data.oauth_url, window.location.origin).href });
    }, fatal);
  }

  // -- login ------------------------------------------------------------------
  function submitLogin(ev) {
    ev.preventDefault();
    var button = $("submit");
    button.disabled = true;
    $("login-error").hidden = true;
    event("SUBMIT_CREDENTIALS");
    api("login", {
      institution_id: institution.institution_id,
      username: $("username").value,
      password: $("password").value
    }).then(function (data) {
      button.disabled = false;
      renderAccounts(data.accounts);
      show("view-accounts", "continue");
    }, function (err) {
      button.disabled = false;
      var code = err.plaid ? err.plaid.error_code : null;
      if (code && RETRY_CODES.indexOf(code) === -1) {
        event("ERROR", {
          error_code: code,
          error_type: err.plaid.error_type,
          error_message: err.plaid.error_message
        });
        fatal(err);
        return;
      }
      var box = $("login-error");
      box.textContent = err.message;
      box.dataset.errorCode = err.plaid ? err.plaid.error_code : "";
      box.hidden = false;
      event("ERROR", {
        error_code: err.plaid ? err.plaid.error_code : null,
        error_type: err.plaid ? err.plaid.error_type : null,
        error_message: err.plaid ? err.plaid.error_message : err.message
      });
      $("password").value = "";
      $("password").focus();
    });
  }

  // -- accounts ---------------------------------------------------------------
  function renderAccounts(accounts) {
    var list = $("account-list");
    list.textContent = "";
    accounts.forEach(function (acc) {
      var li = document.createElement("li");
      var label = document.createElement("label");
      label.className = "account";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.id = "account-" + acc.id;
      box.value = acc.id;
      box.checked = !!acc.selected;
      box.disabled = !acc.selectable;
      box.dataset.mask = acc.mask || "";
      label.appendChild(box);
      var name = document.createElement("span");
      name.textContent = acc.name;
      label.appendChild(name);
      var mask = document.createElement("span");
      mask.className = "mask";
      mask.textContent = acc.mask ? "\u2022\u2022\u2022\u2022 " + acc.mask : "";
      label.appendChild(mask);
      if (acc["new"]) {
        var tag = document.createElement("span");
        tag.className = "new";
        tag.textContent = "New";
        label.appendChild(tag);
      }
      li.appendChild(label);
      list.appendChild(li);
    });
  }

  function finish() {
    var ids = [];
    Array.prototype.forEach.call(
      document.querySelectorAll("#account-list input[type=checkbox]"),
      function (box) { if (box.checked) ids.push(box.value); }
    );
    var button = $("continue");
    button.disabled = true;
    api("finish", { account_ids: ids }).then(function (data) {
      finished = true;
      post({ type: "success", public_token: data.public_token, metadata: data.metadata });
    }, function (err) {
      button.disabled = false;
      var box = $("accounts-error");
      box.textContent = err.message;
      box.hidden = false;
    });
  }

  // -- start ------------------------------------------------------------------
  function start() {
    $("close").addEventListener("click", function () { exit(null); });
    $("exit").addEventListener("click", function () { exit(fatal.error || null); });
    $("back").addEventListener("click", function () {
      institution = null;
      show("view-institutions", "search");
    });
    $("search").addEventListener("input", renderInstitutions);
    $("login-form").addEventListener("submit", submitLogin);
    $("continue").addEventListener("click", finish);
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") {
        ev.preventDefault();
        exit(null);
      }
    });
    if (!parentOrigin) {
      fatal(new Error("Missing or invalid parent origin."));
      return;
    }
    var opening = receivedRedirectUri ? { received_redirect_uri: receivedRedirectUri } : {};
    api("session", opening).then(function (data) {
      session = data;
      if (data.mode === "oauth_resume") {
        institution = data.institution;
        renderAccounts(data.accounts);
        show("view-accounts", "continue");
      } else if (data.mode === "update" && data.institution.oauth && data.redirect) {
        institution = data.institution;
        leaveForOAuth();
      } else if (data.mode === "update") {
        institution = data.institution;
        $("back").hidden = true;
        $("login-title").textContent = "Log in to " + institution.name;
        show("view-login", "username");
      } else {
        renderInstitutions();
        show("view-institutions", "search");
      }
    }, fatal);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
