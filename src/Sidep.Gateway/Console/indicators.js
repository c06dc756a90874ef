// The indicators page: curves of the 7-day rates and of the daily counts for a territory and an age class, the map of
// the départements by incidence on a day, the revisions and what changed, and how complete the last days are.
// Everything comes from the indicators API (the same numbers as rates.csv, daily.csv, changes.csv).
"use strict";
const REGIONS = { "01": "Guadeloupe", "02": "Martinique", "03": "Guyane", "04": "La Réunion", "06": "Mayotte", "11": "Île-de-France",
  "24": "Centre-Val de Loire", "27": "Bourgogne-Franche-Comté", "28": "Normandie", "32": "Hauts-de-France", "44": "Grand Est",
  "52": "Pays de la Loire", "53": "Bretagne", "75": "Nouvelle-Aquitaine", "76": "Occitanie", "84": "Auvergne-Rhône-Alpes",
  "93": "Provence-Alpes-Côte d'Azur", "94": "Corse" };
const INCIDENCE_STEPS = [10, 50, 150, 250, 500, 1000];
const INCIDENCE_COLOURS = ["#fff3c4", "#fdd58a", "#f9a65a", "#ef6c3a", "#cf3429", "#931a1a", "#4a0c0c"];
const $ = (id) => document.getElementById(id);
let mapSvg = null;
let depNames = {};
let charts = [];

const colourOf = (v) => (v === null || v === undefined ? "#e4e7ec" : INCIDENCE_COLOURS[INCIDENCE_STEPS.filter((s) => v >= s).length]);
const epoch = (day) => Date.parse(day + "T00:00:00Z") / 1000;

async function loadMap() {
  if (mapSvg) return;
  const text = await (await fetch("vendor/departements.svg")).text();
  $("map").innerHTML = text;
  mapSvg = $("map").querySelector("svg");
  for (const path of mapSvg.querySelectorAll(".dep")) depNames[path.dataset.dep] = path.getAttribute("aria-label");
  $("legend").replaceChildren(...INCIDENCE_COLOURS.map((c, i) => sidep.el("span", { style: "background:" + c, title: i === 0 ? "< " + INCIDENCE_STEPS[0] : "≥ " + INCIDENCE_STEPS[i - 1] })),
    sidep.el("em", { class: "note" }, " < " + INCIDENCE_STEPS.join(", ") + " ≤ … pour 100 000"));
  for (const path of mapSvg.querySelectorAll(".dep")) path.addEventListener("click", () => { $("level").value = "dep"; fillUnits(); $("unit").value = path.dataset.dep; drawCurves(); });
}

function fillUnits() {
  const level = $("level").value;
  const options = level === "fra" ? [["FR", "France entière"]]
    : level === "reg" ? Object.entries(REGIONS)
    : Object.entries(depNames).sort((a, b) => a[0].localeCompare(b[0]));
  $("unit").replaceChildren(...options.map(([code, name]) => sidep.el("option", { value: code }, `${code} ${name}`)));
}

function query() {
  const level = $("level").value, unit = $("unit").value;
  const q = new URLSearchParams();
  if (level !== "fra") q.set(level, unit);
  if ($("from").value) q.set("from", $("from").value);
  if ($("to").value) q.set("to", $("to").value);
  return { level, q };
}

function plot(target, title, series, data, axes) {
  const width = Math.max(320, $(target).clientWidth || 800);
  const chart = new uPlot({ title, width, height: 260, series: [{}, ...series], axes, scales: { x: { time: true } } }, data, $(target));
  $(target).replaceChildren(chart.root);
  return chart;
}

async function drawCurves() {
  const { level, q } = query();
  const age = $("age").value;
  const [rates, daily] = await Promise.all([sidep.api(`/v1/indicators/${level}/rates.json?${q}`), sidep.api(`/v1/indicators/${level}/daily.json?${q}`)]);
  const r = rates.filter((x) => x.cl_age90 === age);
  const d = daily.filter((x) => x.cl_age90 === age);
  charts.forEach((c) => c.destroy());
  sidep.plotted = { rates: r, daily: d };
  charts = [
    plot("rates-chart", "Incidence, dépistage, positivité", [
      { label: "Incidence /100k", stroke: "#cf3429", width: 2, scale: "rate" },
      { label: "Dépistage /100k", stroke: "#2f5fb3", width: 1.5, scale: "rate" },
      { label: "Positivité %", stroke: "#2e7d32", width: 1.5, scale: "pct" }],
      [r.map((x) => epoch(x.jour)), r.map((x) => x.tx_incid), r.map((x) => x.tx_dep), r.map((x) => x.tx_pos)],
      [{}, { scale: "rate", label: "/100 000" }, { scale: "pct", side: 1, label: "%", grid: { show: false } }]),
    plot("daily-chart", "P et T par jour", [
      { label: "T", stroke: "#2f5fb3", width: 1.5, scale: "t" },
      { label: "P", stroke: "#cf3429", width: 2, scale: "p" },
      { label: "P femmes", stroke: "#e58aa0", scale: "p" },
      { label: "P hommes", stroke: "#6a8fd0", scale: "p" }],
      [d.map((x) => epoch(x.jour)), d.map((x) => x.T), d.map((x) => x.P), d.map((x) => x.P_f), d.map((x) => x.P_h)],
      [{}, { scale: "t", label: "T" }, { scale: "p", side: 1, label: "P", grid: { show: false } }]),
  ];
  if (!$("map-day").value && r.length) {
    $("map-day").value = r[r.length - 1].jour;
    await drawMap();
  }
  sidep.status(r.length ? `${r.length} jours, du ${r[0].jour} au ${r[r.length - 1].jour}` : "Aucun résultat pour cette sélection.");
}

async function drawMap() {
  const day = $("map-day").value;
  if (!day) return;
  const rows = await sidep.api(`/v1/indicators/dep/rates.json?from=${day}&to=${day}`);
  const byDep = Object.fromEntries(rows.filter((x) => x.cl_age90 === "0").map((x) => [x.dep, x]));
  for (const path of mapSvg.querySelectorAll(".dep")) {
    const row = byDep[path.dataset.dep];
    const v = row ? row.tx_incid : null;
    path.style.fill = colourOf(v);
    path.dataset.incidence = v === null || v === undefined ? "" : String(v);
    path.replaceChildren(sidep.el("title", {}, `${path.dataset.dep} ${path.getAttribute("aria-label")} : ${v === null || v === undefined ? "pas de donnée" : sidep.fmt(v) + " pour 100 000 (7 jours)"}`));
  }
  sidep.mapDay = day;
}

async function drawFreshness() {
  const f = await sidep.api("/v1/indicators/freshness");
  const max = Math.max(1, ...f.days.map((d) => d.total));
  const rows = [...f.days].reverse();
  sidep.table($("freshness"), [
    { title: "Prélevé le", value: (d) => d.day },
    { title: "J0", num: true, value: (d) => sidep.fmt(d.sameDay, 0) },
    { title: "J+1", num: true, value: (d) => sidep.fmt(d.oneDay, 0) },
    { title: "J+2", num: true, value: (d) => sidep.fmt(d.twoDays, 0) },
    { title: "J+3+", num: true, value: (d) => sidep.fmt(d.threeOrMore, 0) },
    { title: "", value: (d) => {
      const bar = sidep.el("div", { class: "bars", style: `width:${(100 * d.total) / max}%` });
      [["d0", d.sameDay], ["d1", d.oneDay], ["d2", d.twoDays], ["d3", d.threeOrMore]].forEach(([c, n]) => d.total && bar.append(sidep.el("i", { class: c, style: `width:${(100 * n) / d.total}%` })));
      return bar;
    } },
  ], rows);
}

async function fillRevisions() {
  const revisions = await sidep.api("/v1/indicators/revisions");
  const moments = revisions.slice(-50).reverse();
  $("revision").replaceChildren(sidep.el("option", { value: "" }, "—"), ...moments.map((r) => sidep.el("option", { value: r.processedAt }, `${new Date(r.processedAt).toLocaleString("fr-FR")} (révision ${r.rev}, ${r.results} résultats)`)));
}

async function drawChanges() {
  const since = $("revision").value;
  if (!since) { $("changes").replaceChildren(sidep.el("p", { class: "note" }, "Choisissez un moment pour voir ce qui a changé depuis (résultats tardifs, corrections).")); return; }
  const { level, q } = query();
  q.set("since", since);
  const csv = await sidep.api(`/v1/indicators/${level}/changes.csv?${q}`, "text");
  const [head, ...lines] = csv.trim().split("\n");
  const names = head.split(";");
  const rows = lines.map((l) => Object.fromEntries(l.split(";").map((v, i) => [names[i], v])));
  sidep.table($("changes"), [
    { title: names[0], value: (r) => r[names[0]] }, { title: "jour", value: (r) => r.jour }, { title: "âge", value: (r) => r.cl_age90 },
    { title: "colonne", value: (r) => r.colonne }, { title: "avant", num: true, value: (r) => r.avant }, { title: "après", num: true, value: (r) => r.apres },
  ], rows.slice(0, 500));
  if (!rows.length) $("changes").append(sidep.el("p", { class: "note" }, "Rien n'a changé depuis ce moment pour cette sélection."));
}

async function start() {
  try {
    await loadMap();
    if (!$("unit").options.length) fillUnits();
    await Promise.all([drawCurves(), drawFreshness(), fillRevisions()]);
    await drawChanges();
    sidep.ready = true;
  } catch (e) {
    console.error(e);
  }
}

$("level").addEventListener("change", () => { fillUnits(); drawCurves(); drawChanges(); });
for (const id of ["unit", "age", "from", "to"]) $(id).addEventListener("change", () => { drawCurves(); drawChanges(); });
$("map-day").addEventListener("change", drawMap);
$("revision").addEventListener("change", drawChanges);
sidep.login(start);
