// The labs page: every lab's health, flagged labs first (GET /v1/labs/health).
"use strict";
async function start() {
  const health = await sidep.api("/v1/labs/health");
  const m = health.method;
  document.getElementById("method").textContent =
    `Comparé à l'historique de chaque laboratoire (mêmes heures, même jour de semaine, ${m.historyWeeks} dernières semaines). ` +
    `Silencieux : rien reçu depuis au moins ${m.minSilenceHours} h alors qu'au moins ${m.silentExpected} envois étaient attendus. ` +
    `En baisse : sur ${m.dropWindowHours} h, moins de ${m.dropRatio * 100} % de l'attendu (au moins ${m.dropMinExpected} attendus). ` +
    Object.entries(health.counts).map(([k, v]) => `${k} ${v}`).join(", ");
  const days = ["lu", "ma", "me", "je", "ve", "sa", "di"];
  sidep.table(document.getElementById("labs"), [
    { title: "État", value: (l) => sidep.el("span", { class: "badge state-" + l.state, "data-lab": l.lab }, l.state) },
    { title: "Laboratoire", value: (l) => `${l.lab} ${l.name}` },
    { title: "Pourquoi", value: (l) => l.reason },
    { title: "Dernier envoi", value: (l) => l.lastReceivedAt ? new Date(l.lastReceivedAt).toLocaleString("fr-FR") : "–" },
    { title: "Aujourd'hui", num: true, value: (l) => `${sidep.fmt(l.storedToday, 0)} / ${sidep.fmt(l.expectedSoFarToday, 0)} attendus` },
    { title: "Habituel par jour", value: (l) => l.expectedByWeekday.map((v, i) => `${days[i]} ${sidep.fmt(v, 0)}`).join(" · ") },
    { title: "Rejetés 24 h", num: true, value: (l) => sidep.fmt(100 * l.rejectedShare24h) + " %" },
    { title: "Quarantaine 24 h", num: true, value: (l) => sidep.fmt(100 * l.quarantinedShare24h) + " %" },
  ], health.labs);
  sidep.status(`${health.labs.length} laboratoires, au ${new Date(health.at).toLocaleString("fr-FR")}`);
  sidep.ready = true;
}
sidep.login(() => start().catch(console.error));
