// Plaid Link on the dashboard: link a bank, reconnect one (update mode), add new accounts.
// No inline script: data comes from data- attributes on #plaid-link (exchange URL, CSRF
// token) and on each button.link-open (data-link-token-url, data-link-mode, and
// data-link-complete-url in update mode). The pending state after linking is
// static/js/dashboard.js's: it polls while a refresh runs and updates the page.
(function () {
  "use strict";

  var root = document.getElementById("plaid-link");
  if (!root) {
    return;
  }
  var busy = false;

  function showMessage(text, kind) {
    var main = document.querySelector("main");
    var list = main.querySelector("ul.messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      list.setAttribute("role", "status");
      main.insertBefore(list, main.firstChild);
    }
    var item = document.createElement("li");
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

  function exitMessage(error, isUpdate) {
    if (!error) {
      return isUpdate
        ? "Reconnecting was cancelled. Nothing was changed."
        : "Linking was cancelled. No bank was added.";
    }
    var detail = error.display_message || error.error_message || error.error_code || "unknown error";
    return (
      (isUpdate ? "Reconnecting failed: " : "Linking failed: ") +
      detail +
      " Nothing was changed; try again."
    );
  }

  function openLink(button) {
    if (busy) {
      return;
    }
    if (typeof window.Plaid === "undefined" || typeof window.Plaid.create !== "function") {
      showMessage(
        "Plaid Link could not be loaded, so no bank can be linked right now. Check your connection and reload the page."
      );
      return;
    }
    clearMessages();
    busy = true;
    setButtonsDisabled(true);
    var completeUrl = button.dataset.linkCompleteUrl;
    var isUpdate = Boolean(completeUrl);
    var done = function () {
      busy = false;
      setButtonsDisabled(false);
    };
    post(button.dataset.linkTokenUrl, { mode: button.dataset.linkMode || "reconnect" })
      .then(function (data) {
        var handler = window.Plaid.create({
          token: data.link_token,
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
        });
        handler.open();
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
})();
