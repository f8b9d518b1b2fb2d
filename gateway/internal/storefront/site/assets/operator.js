// The operator's page: orders parked for a person, with why and the trace
// of the request that placed each, and the two ways to settle one.
import { api, el, notice, showProblem, signedIn, traceCell, when, wireSignIn } from "./common.js";

const $ = (id) => document.getElementById(id);

async function load() {
  if (signedIn() !== "operator") {
    $("parked").hidden = true;
    $("parked-empty").hidden = false;
    $("parked-empty").textContent = "Sign in to see parked orders.";
    return;
  }
  let orders;
  try {
    ({ body: { orders } } = await api("GET", "/v1/admin/orders/parked?page_size=50"));
  } catch (p) {
    showProblem(p);
    return;
  }
  const act = (id, verb, label) => el("button", { type: "button", "aria-label": `${label} order ${id}`, onclick: () => settle(id, verb, label) }, label);
  const rows = orders.map((o) => el("tr", { "data-order": o.id },
    el("td", {}, el("code", {}, o.id)),
    el("td", {}, o.customer_id),
    el("td", {}, when(o.updated_at)),
    el("td", {}, o.attention || "—"),
    traceCell(o.trace_id),
    el("td", { class: "actions" }, act(o.id, "retry", "Retry"), " ", act(o.id, "compensate", "Compensate"))));
  $("parked").querySelector("tbody").replaceChildren(...rows);
  $("parked").hidden = rows.length === 0;
  $("parked-empty").hidden = rows.length > 0;
  $("parked-empty").textContent = "No order is parked.";
}

async function settle(id, verb, label) {
  showProblem(null);
  try {
    const { body } = await api("POST", `/v1/admin/orders/${encodeURIComponent(id)}/${verb}`, { body: {} });
    notice(`${label}: order ${id} is now ${body.status}.`);
  } catch (p) {
    showProblem(p);
  }
  await load();
}

$("refresh").addEventListener("click", load);
wireSignIn(load, "operator");
