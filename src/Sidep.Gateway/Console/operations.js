// The operators' page: positions and lags per stage, backpressure, dead letters, quarantine, rejections.
"use strict";
async function start() {
  const [pipeline, ops, health] = await Promise.all([sidep.api("/v1/pipeline"), sidep.api("/v1/pipeline/operations"), sidep.api("/v1/labs/health")]);
  sidep.table(document.getElementById("stages"), [
    { title: "Étape", value: (s) => s.stage }, { title: "Entrée", value: (s) => s.input },
    { title: "Position", num: true, value: (s) => sidep.fmt(s.position, 0) }, { title: "Fin", num: true, value: (s) => sidep.fmt(s.end, 0) },
    { title: "Retard", num: true, value: (s) => sidep.fmt(s.lag, 0) },
  ], pipeline.stages);
  const b = ops.backpressure;
  document.getElementById("backpressure").textContent = `Contre-pression : retard ${sidep.fmt(b.lag, 0)} / seuil ${sidep.fmt(b.maxLag, 0)}` + (b.overloaded ? " — les soumissions reçoivent 503" : " — soumissions acceptées");
  sidep.table(document.getElementById("dead"), [{ title: "Entrée", value: (d) => d.input }, { title: "Messages mis de côté", num: true, value: (d) => sidep.fmt(d.deadLetters, 0) }], ops.deadLetters);
  sidep.table(document.getElementById("quarantine"), [
    { title: "Laboratoire", value: (q) => q.lab }, { title: "Code local", value: (q) => q.localCode }, { title: "Libellé", value: (q) => q.label || "" },
    { title: "Résultats", num: true, value: (q) => sidep.fmt(q.count, 0) }, { title: "Depuis", value: (q) => new Date(q.firstReceivedAt).toLocaleString("fr-FR") },
  ], ops.quarantine);
  sidep.table(document.getElementById("reasons"), [
    { title: "Motif", value: (r) => r.reason }, { title: "Laboratoire", value: (r) => r.lab }, { title: "Rejets", num: true, value: (r) => sidep.fmt(r.count, 0) },
  ], ops.rejections);
  const troubled = health.labs.filter((l) => l.rejectedShare24h > 0 || l.quarantinedShare24h > 0).sort((a, b) => b.rejectedShare24h - a.rejectedShare24h);
  sidep.table(document.getElementById("rejections"), [
    { title: "Laboratoire", value: (l) => `${l.lab} ${l.name}` }, { title: "Reçus", num: true, value: (l) => sidep.fmt(l.receivedLast24h, 0) },
    { title: "Rejetés", num: true, value: (l) => sidep.fmt(100 * l.rejectedShare24h) + " %" }, { title: "En quarantaine", num: true, value: (l) => sidep.fmt(100 * l.quarantinedShare24h) + " %" },
  ], troubled);
  sidep.status(`${pipeline.caughtUp ? "Pipeline à jour" : "Pipeline en retard"} · ${sidep.fmt(pipeline.results, 0)} résultats journalisés`);
  sidep.ready = true;
}
sidep.login(() => start().catch(console.error));
