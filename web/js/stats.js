// The org's per-provider statistics (GET /stats/providers).

import { clear, h, spinner, timeEl } from "./ui.js";

export async function renderStats(container, api) {
  clear(container).append(spinner("Loading statistics…"));
  const stats = await api.providerStats();
  const providers = stats.providers || [];
  const total = (k) => providers.reduce((n, p) => n + (p[k] || 0), 0);
  clear(container).append(
    h(
      "div",
      { class: "pane-head" },
      h("a", { href: "#/", class: "back button secondary", "aria-label": "Back to conversations" }, "←"),
      h("h2", { id: "stats-title" }, `Providers · ${stats.org_id}`),
    ),
    h(
      "div",
      { class: "stats-cards", role: "group", "aria-label": "Totals" },
      [
        ["total", "Conversations"],
        ["active", "Active"],
        ["escalated", "Escalated"],
        ["within_24h", "Wrote in the last 24 h"],
      ].map(([k, label]) => h("div", { class: "stat", dataset: { stat: k } }, h("strong", {}, String(total(k))), h("span", {}, label))),
    ),
    h(
      "table",
      { class: "stats", "aria-labelledby": "stats-title" },
      h("thead", {}, h("tr", {}, ["Provider", "Total", "Active", "Escalated", "Within 24 h"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        providers.map((p) =>
          h(
            "tr",
            { dataset: { provider: p.provider } },
            h("th", { scope: "row" }, p.provider),
            h("td", {}, String(p.total)),
            h("td", {}, String(p.active)),
            h("td", {}, String(p.escalated)),
            h("td", {}, String(p.within_24h)),
          ),
        ),
      ),
    ),
    h("p", { class: "help" }, "As of ", timeEl(stats.as_of), "."),
  );
  container.setAttribute("aria-labelledby", "stats-title");
}
