// Plaid Link on the dashboard: link a bank, reconnect one (update mode), add new accounts.
// No inline script: data comes from data- attributes on #plaid-link (exchange URL, CSRF
// token) and on each button.link-open (data-link-token-url, data-link-mode, and
// data-link-complete-url in update mode). The pending state after linking is
// static/js/dashboard.js's: it polls while a refresh runs and updates the page.
// Back from an OAuth bank (/link/oauth-return/), #plaid-link carries the link token the
// session started (data-oauth-link-token, plus data-link-complete-url in update mode): Link
// re-opens at once with receivedRedirectUri = this page's URL and finishes the same way.
(function () {
  "use strict";

  var root = document.getElementById("plaid-link");
  if (!root) {
    return;
  }
  var busy = false;

  function showMessage(text, kind) {
    var main = document.querySelector("main");
    var list = main.querySelector(".messages");
    if (!list) {
      list = document.createElement("div");
      list.className = "messages";
      list.setAttribute("role", "status");
      main.insertBefore(list, main.firstChild);
    }
    var item = document.createElement("p");
    item.className = "message " + (kind || "error");
    item.setAttribute("role", kind === "info" ? "status" : "alert");
    item.setAttribute("data-link-message", "");
    item.textContent = text;
    list.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function clearMessages() {
    document.querySelectorAll("[data-link-message]").forEach(function (el) {
      el.remove();
    });
  }

  // POST JSON with the CSRF token; resolve with the reply's JSON, reject with a message.
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": root.dataset.csrfToken,
      },
      body: JSON.stringify(body || {}),
    }).then(
      function (response) {
        return response.json().then(
          function (data) {
            if (!response.ok) {
              throw new Error(data.error || "The server refused the request.");
            }
            return data;
          },
          function () {
            throw new Error(
              "The server answered unexpectedly (HTTP " + response.status + "). Nothing was changed; try again."
            );
          }
        );
      },
      function () {
        throw new Error("This page lost its connection to the server. Nothing was changed; try again.");
      }
    );
  }

  function setButtonsDisabled(disabled) {
    document.querySelectorAll("button.link-open").forEach(function (button) {
      button.disabled = disabled;
    });
  }

  // Plaid's display_message is written for the user; error_message is for developers, so
  // without a display_message the user gets a generic sentence.
  function exitMessage(error, isUpdate) {
    if (!error) {
      return isUpdate
        ? "Reconnecting was cancelled. Nothing was changed."
        : "Linking was cancelled. No bank was added.";
    }
    var detail =
      typeof error.display_message === "string" && error.display_message
        ? error.display_message
        : "Plaid could not connect to the bank.";
    return (
      (isUpdate ? "Reconnecting failed: " : "Linking failed: ") +
      detail +
      " Nothing was changed; try again later."
    );
  }

  // Open Link with `token`; finish through the exchange (or, with `completeUrl`, update
  // mode's "reconnected"); call `done` when Link ends without leaving the page.
  function runLink(token, completeUrl, receivedRedirectUri, done) {
    var isUpdate = Boolean(completeUrl);
    var config = {
      token: token,
      onSuccess: function (publicToken, metadata) {
        var request = isUpdate
          ? post(completeUrl, {})
          : post(root.dataset.exchangeUrl, { public_token: publicToken, metadata: metadata });
        request
          .then(function (reply) {
            window.location.assign(reply.redirect || "/");
          })
          .catch(function (err) {
            showMessage(err.message);
            done();
          });
      },
      onExit: function (error) {
        showMessage(exitMessage(error, isUpdate), error ? "error" : "info");
        done();
      },
    };
    if (receivedRedirectUri) {
      config.receivedRedirectUri = receivedRedirectUri;
    }
    window.Plaid.create(config).open();
  }

  function linkAvailable() {
    if (typeof window.Plaid === "undefined" || typeof window.Plaid.create !== "function") {
      showMessage(
        "Plaid Link could not be loaded, so no bank can be linked right now. Check your connection and reload the page."
      );
      return false;
    }
    return true;
  }

  function openLink(button) {
    if (busy || !linkAvailable()) {
      return;
    }
    clearMessages();
    busy = true;
    setButtonsDisabled(true);
    var done = function () {
      busy = false;
      setButtonsDisabled(false);
      // Back where the user was: the button that opened Link (disabling it sent focus to
      // <body>), so a keyboard or screen reader user does not start over from the top.
      if (document.body.contains(button)) {
        button.focus();
      }
    };
    post(button.dataset.linkTokenUrl, { mode: button.dataset.linkMode || "reconnect" })
      .then(function (data) {
        runLink(data.link_token, button.dataset.linkCompleteUrl, null, done);
      })
      .catch(function (err) {
        showMessage(err.message);
        done();
      });
  }

  document.querySelectorAll("button.link-open").forEach(function (button) {
    button.addEventListener("click", function () {
      openLink(button);
    });
  });
  setButtonsDisabled(false);

  if (root.dataset.oauthLinkToken && linkAvailable()) {
    busy = true;
    runLink(root.dataset.oauthLinkToken, root.dataset.linkCompleteUrl, window.location.href, function () {
      busy = false;
    });
  }
})();
