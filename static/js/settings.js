// Settings: propose this browser's time zone when it differs from the one chosen (or none
// is chosen yet). Nothing is saved until the user presses "Save time zone".
(function () {
  "use strict";

  var hint = document.getElementById("browser-zone");
  var select = document.getElementById("id_time_zone");
  if (!hint || !select || !window.Intl) {
    return;
  }
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  var option = zone && select.querySelector('option[value="' + zone.replace(/"/g, "") + '"]');
  if (!option || (select.value === zone && hint.dataset.chosen === "true")) {
    return;
  }
  document.getElementById("browser-zone-text").textContent =
    "This browser's time zone is " + zone.replace(/_/g, " ") + ".";
  var use = document.getElementById("browser-zone-use");
  use.textContent = "Use " + zone.replace(/_/g, " ");
  use.addEventListener("click", function () {
    select.value = zone;
    select.focus();
  });
  hint.hidden = false;
})();
