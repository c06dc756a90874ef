// Sidep's console: shared helpers. The token (the operator's, or an agent's JWT) stays in this tab's session storage
// and goes with every request to Sidep's own API; nothing is fetched from anywhere else.
"use strict";
const sidep = (window.sidep = window.sidep || {});

sidep.token = () => sessionStorage.getItem("sidep-token") || "";

sidep.headers = () => {
  const token = sidep.token();
  if (!token) return {};
  // An agent's token is a JWT (three dot-separated parts); anything else is the operator token.
  return token.split(".").length === 3 ? { Authorization: "Bearer " + token } : { "X-Operator-Token": token };
};

sidep.api = async (path, as = "json") => {
  const response = await fetch(path, { headers: sidep.headers() });
  if (response.status === 401 || response.status === 403) {
    sidep.status("Not allowed: enter the operator token, or an agent token with the epidemiologist role.", true);
    throw new Error("HTTP " + response.status);
  }
  if (!response.ok) {
    let detail = "";
    try { detail = (await response.json()).detail || ""; } catch { }
    sidep.status(`${path}: HTTP ${response.status} ${detail}`, true);
    throw new Error("HTTP " + response.status);
  }
  return as === "json" ? response.json() : response.text();
};

sidep.status = (text, isError = false) => {
  const el = document.getElementById("status");
  if (el) { el.textContent = text; el.className = isError ? "note error" : "note"; }
};

sidep.login = (onReady) => {
  const form = document.getElementById("login");
  const input = form.querySelector("input");
  input.value = sidep.token();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("sidep-token", input.value.trim());
    onReady();
  });
  if (sidep.token()) onReady(); else sidep.status("Enter the operator token (or an agent token) to read the indicators.");
};

sidep.fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("fr-FR", { maximumFractionDigits: digits }));

sidep.el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
};

sidep.table = (target, columns, rows) => {
  const table = sidep.el("table");
  table.append(sidep.el("thead", {}, sidep.el("tr", {}, ...columns.map((c) => sidep.el("th", c.num ? { class: "num" } : {}, c.title)))));
  const body = sidep.el("tbody");
  for (const row of rows) {
    const tr = sidep.el("tr");
    for (const c of columns) {
      const td = sidep.el("td", c.num ? { class: "num" } : {});
      const value = c.value(row);
      if (value instanceof Node) td.append(value); else td.textContent = value;
      tr.append(td);
    }
    body.append(tr);
  }
  table.append(body);
  target.replaceChildren(table);
};
