// Dashboard and account page: draw the history charts (Chart.js, vendored), switch chart
// ranges without a reload, and while a refresh is pending poll the JSON endpoint, then
// update the figures in place. No inline script: data comes from #chart-data (json_script)
// and data- attributes on #dashboard-live. Without JavaScript the tables show the numbers.
(function () {
  "use strict";

  var POLL_MS = 2500;
  var POLL_LIMIT_MS = 5 * 60 * 1000;
  var charts = [];
  window.balancesCharts = charts;

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function formatter(currency, official) {
    if (official) {
      try {
        var fmt = new Intl.NumberFormat(undefined, { style: "currency", currency: currency });
        return function (v) {
          return fmt.format(v);
        };
      } catch (e) {
        // An ISO code this browser does not know: plain number with the code below.
      }
    }
    var plain = new Intl.NumberFormat(undefined, { maximumFractionDigits: 8 });
    return function (v) {
      return plain.format(v) + " " + currency;
    };
  }

  // Tick labels: whole units for currencies ("$50,000"), the exact value in tooltips.
  function tickFormatter(currency, official) {
    if (official) {
      try {
        var fmt = new Intl.NumberFormat(undefined, {
          style: "currency",
          currency: currency,
          maximumFractionDigits: 0,
        });
        return function (v) {
          return fmt.format(v);
        };
      } catch (e) {
        // Unknown code: fall through to the plain format.
      }
    }
    return formatter(currency, false);
  }

  var dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  function dayLabel(iso) {
    var parts = iso.split("-");
    return dayFormat.format(new Date(Number(parts[0]), Number(parts[1]) - 1, Number(parts[2])));
  }

  function numbers(values) {
    return values.map(function (v) {
      return v === null ? null : Number(v);
    });
  }

  function datasetsFor(series, kind, currentLabel) {
    var text = cssVar("--text", "#1b1f24");
    var ok = cssVar("--ok", "#1e7d32");
    var error = cssVar("--error", "#b3261e");
    var accent = cssVar("--accent", "#0b5fff");
    var muted = cssVar("--muted", "#5b6573");
    if (kind === "account") {
      return [
        {
          label: currentLabel || "Current", // "Owed" on a credit card's or a loan's page
          data: numbers(series.current),
          borderColor: accent,
          borderWidth: 2.5,
        },
        { label: "Available", data: numbers(series.available), borderColor: ok, borderWidth: 1.5 },
        {
          label: "Limit",
          data: numbers(series.limit),
          borderColor: muted,
          borderWidth: 1.5,
          borderDash: [6, 4],
        },
      ];
    }
    return [
      { label: "Net worth", data: numbers(series.net_worth), borderColor: text, borderWidth: 2.5 },
      { label: "Assets", data: numbers(series.assets), borderColor: ok, borderWidth: 1.5 },
      {
        label: "Liabilities",
        data: numbers(series.liabilities),
        borderColor: error,
        borderWidth: 1.5,
        borderDash: [6, 4],
      },
    ];
  }

  function drawCharts(scope) {
    charts.forEach(function (chart) {
      chart.destroy();
    });
    charts.length = 0;
    var source = document.getElementById("chart-data");
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var grid = cssVar("--border", "#dde1e6");
    var muted = cssVar("--muted", "#5b6573");
    (scope || document).querySelectorAll("canvas[data-chart-index]").forEach(function (canvas) {
      var series = data[Number(canvas.dataset.chartIndex)];
      if (!series) {
        return;
      }
      canvas.closest("figure").classList.add("has-chart");
      var fmt = formatter(series.currency, series.official);
      var tick = tickFormatter(series.currency, series.official);
      var datasets = datasetsFor(series, canvas.dataset.chartKind, canvas.dataset.currentLabel).map(function (d) {
        d.pointRadius = series.labels.length > 60 ? 0 : 2;
        d.pointHoverRadius = 4;
        d.tension = 0.2;
        d.spanGaps = true;
        d.backgroundColor = d.borderColor;
        return d;
      });
      var chart = new window.Chart(canvas, {
        type: "line",
        data: { labels: series.labels, datasets: datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          plugins: {
            legend: { labels: { color: muted, usePointStyle: true, boxHeight: 6 } },
            tooltip: {
              callbacks: {
                title: function (items) {
                  return items.length ? new Date(series.labels[items[0].dataIndex] + "T12:00:00").toDateString() : "";
                },
                label: function (ctx) {
                  return ctx.dataset.label + ": " + (ctx.parsed.y === null ? "—" : fmt(ctx.parsed.y));
                },
              },
            },
          },
          scales: {
            x: {
              ticks: {
                color: muted,
                maxTicksLimit: 7,
                maxRotation: 0,
                callback: function (value) {
                  return dayLabel(series.labels[value]);
                },
              },
              grid: { color: grid },
            },
            y: {
              ticks: {
                color: muted,
                maxTicksLimit: 6,
                callback: function (v) {
                  return tick(v);
                },
              },
              grid: { color: grid },
            },
          },
        },
      });
      charts.push(chart);
      // The chart is drawn: fold the table away (one click reopens it).
      var details = canvas.closest("figure").querySelector("details.chart-table");
      if (details) {
        details.open = false;
      }
    });
  }

  // Fetch `url` as HTML and replace the elements with these ids by their new versions.
  function swap(url, ids) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } }).then(
      function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          ids.forEach(function (id) {
            var fresh = doc.getElementById(id);
            var old = document.getElementById(id);
            if (fresh && old) {
              old.replaceWith(document.importNode(fresh, true));
            }
          });
          return doc;
        });
      }
    );
  }

  function replaceChartData(doc) {
    var fresh = doc.getElementById("chart-data");
    var old = document.getElementById("chart-data");
    if (fresh && old) {
      old.textContent = fresh.textContent;
    }
  }

  // Range links: load the chosen range in place; a plain link without JavaScript.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("nav.segmented a[data-range]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) {
      return;
    }
    if (!document.getElementById("chart-data") || typeof window.Chart === "undefined") {
      return;
    }
    event.preventDefault();
    var url = link.href;
    var section = document.getElementById("history");
    section.setAttribute("aria-busy", "true");
    swap(url, ["history"])
      .then(function (doc) {
        replaceChartData(doc);
        drawCharts();
        window.history.replaceState(null, "", url);
        var current = document.querySelector('#history nav.segmented a[aria-current="true"]');
        if (current) {
          current.focus();
        }
      })
      .catch(function () {
        window.location.assign(url);
      });
  });

  // Live update: after a refresh finishes, update figures, chart, accounts and freshness.
  function updateConnections(doc) {
    var banners = function (root) {
      return Array.prototype.map
        .call(root.querySelectorAll(".connections .banner, .connections .error"), function (el) {
          return el.textContent.replace(/\s+/g, " ").trim();
        })
        .join("|");
    };
    if (banners(doc) !== banners(document)) {
      return false; // New or cleared banners carry Link buttons: a full reload wires them up.
    }
    document.querySelectorAll(".connections li[data-item]").forEach(function (li) {
      var fresh = doc.querySelector('.connections li[data-item="' + li.dataset.item + '"] .connection-head');
      var old = li.querySelector(".connection-head");
      if (fresh && old) {
        // Keep the old node's links (handlers may be attached); update its status texts.
        old.querySelectorAll(".pending, .muted, .warning, .badge").forEach(function (el) {
          el.remove();
        });
        var anchor = old.querySelector("strong");
        Array.prototype.slice
          .call(fresh.querySelectorAll(".badge, .pending, .muted, .warning"))
          .reverse()
          .forEach(function (el) {
            anchor.after(document.importNode(el, true));
          });
      }
    });
    return true;
  }

  function liveUpdate() {
    var url = window.location.href;
    return swap(url, ["headline-figures", "history", "account-groups"]).then(function (doc) {
      replaceChartData(doc);
      drawCharts();
      if (!updateConnections(doc)) {
        window.location.reload();
        return;
      }
      // "X is linked. Fetching balances…" no longer holds: say they arrived instead.
      document.querySelectorAll(".messages .message.fetching").forEach(function (message) {
        settleFetching(message, true);
      });
      var live = document.getElementById("dashboard-live");
      live.dataset.pending = "false";
      live.dataset.updatedAt = new Date().toISOString();
      var status = document.getElementById("live-status");
      if (status) {
        status.textContent = "Balances updated.";
      }
    });
  }

  // Replace a message's "Fetching balances…" with how the refresh ended: "Its balances
  // are in." when they arrived, nothing when it failed (the connection's banner says why).
  function settleFetching(message, arrived) {
    message.textContent = message.textContent.replace(
      /\s*Fetching balances….*$/,
      arrived ? " Its balances are in." : ""
    );
    message.classList.remove("fetching");
  }

  // The message was written when the refresh was queued; a quick worker may have ended it
  // before this page read the connections (so nothing is pending and nothing polls). Settle
  // each message from its connection as this page shows it (`item-<pk>` in its classes).
  function settleEndedFetching() {
    var live = document.getElementById("dashboard-live");
    if (!live || live.dataset.pending === "true") {
      return;
    }
    document.querySelectorAll(".messages .message.fetching").forEach(function (message) {
      var match = /(?:^|\s)item-(\d+)(?:\s|$)/.exec(message.className);
      var connection = match && document.querySelector('.connections li[data-item="' + match[1] + '"]');
      settleFetching(message, Boolean(connection && connection.dataset.balancesIn === "true"));
    });
  }

  function pollWhilePending() {
    var live = document.getElementById("dashboard-live");
    if (!live || live.dataset.pending !== "true") {
      return;
    }
    var started = Date.now();
    var tick = function () {
      fetch(live.dataset.apiUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (data) {
          if (data && data.pending === false) {
            return liveUpdate();
          }
          if (Date.now() - started > POLL_LIMIT_MS) {
            var status = document.getElementById("live-status");
            if (status) {
              status.textContent =
                "Fetching balances is taking longer than usual; they appear once the refresh finishes.";
            }
            return null;
          }
          window.setTimeout(tick, POLL_MS);
          return null;
        })
        .catch(function () {
          window.setTimeout(tick, POLL_MS * 2); // A missed poll is retried.
        });
    };
    window.setTimeout(tick, POLL_MS);
  }

  drawCharts();
  settleEndedFetching();
  pollWhilePending();
  // Light/dark switch while the page is open: redraw with the new palette.
  if (window.matchMedia) {
    var scheme = window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme.addEventListener) {
      scheme.addEventListener("change", function () {
        drawCharts();
      });
    }
  }
})();
