// The header's links on a narrow screen: folded behind a "Menu" button (aria-expanded),
// so they take one line, not three. Wide screens and browsers without JS show them all.
(function () {
  "use strict";

  var button = document.querySelector(".menu-button");
  var nav = document.getElementById("site-nav");
  if (!button || !nav || !window.matchMedia) {
    return;
  }
  var narrow = window.matchMedia("(max-width: 40rem)");

  function set(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("folded", !open);
  }

  function fit() {
    button.hidden = !narrow.matches;
    set(!narrow.matches);
  }

  button.addEventListener("click", function () {
    set(button.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && narrow.matches && button.getAttribute("aria-expanded") === "true") {
      set(false);
      button.focus();
    }
  });
  if (narrow.addEventListener) {
    narrow.addEventListener("change", fit);
  }
  fit();
})();
