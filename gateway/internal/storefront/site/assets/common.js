// What the shop and the operator's page share: the session, calls to the
// REST API, and showing its answers. Plain JavaScript modules, no build step.

const session = window.sessionStorage;

// Each request starts a trace of its own, sampled: the page knows the trace
// id before it sends, and the gateway continues it (W3C traceparent).
function newTraceparent() {
  const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `00-${hex(16)}-${hex(8)}-01`;
}

// Problem is a problem+json answer (RFC 9457) or a failure to reach the API.
export class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.title = body.title || "Request failed";
    this.detail = body.detail || "";
    this.orderId = body.order_id || "";
    this.traceId = body.trace_id || "";
    this.errors = body.errors || [];
    this.retryAfter = "";
  }
}

export function signedIn() {
  const token = session.getItem("token");
  const expires = Number(session.getItem("expires") || 0);
  return token && Date.now() < expires - 30_000 ? session.getItem("customer") : "";
}

// signIn asks the gateway's dev sign-in for a short-lived token (the dev
// stack only; a real deployment signs people in with its identity provider).
export async function signIn(customer) {
  // A token sent along, expired or another account's, would be refused
  // before the sign-in runs.
  session.removeItem("token");
  const { body } = await api("POST", "/v1/dev/signin", { body: { customer } }, true);
  session.setItem("token", body.token);
  session.setItem("customer", body.customer);
  session.setItem("expires", String(Date.parse(body.expires_at)));
  return body.customer;
}

export function signOut() {
  session.clear();
}

// api calls the REST API as the signed-in customer and returns
// {status, body}, or throws a Problem. A token that expired is renewed
// once, for the same customer (renewed: already done).
export async function api(method, path, { body, idempotencyKey } = {}, renewed = false) {
  const traceparent = newTraceparent();
  const headers = { traceparent, Accept: "application/json" };
  const token = session.getItem("token");
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new Problem(0, { title: "The shop cannot be reached", detail: `${err.message}. Nothing was sent, or its answer was lost: try again.` });
  }
  const json = await res.json().catch(() => ({}));
  if (res.status === 401 && !renewed && session.getItem("customer")) {
    await signIn(session.getItem("customer"));
    return api(method, path, { body, idempotencyKey }, true);
  }
  if (!res.ok) {
    const p = new Problem(res.status, json);
    p.retryAfter = res.headers.get("Retry-After") || "";
    if (!p.traceId) p.traceId = traceparent.split("-")[1];
    throw p;
  }
  return { status: res.status, body: json };
}

// el builds an element: el("td", {class: "x"}, "text", child...).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== false && v !== undefined) e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children.filter((c) => c !== undefined && c !== null));
  return e;
}

export function money({ currency, amount_minor: minor }) {
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
}

export function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

// traceCell shows a trace id with the command that draws it.
export function traceCell(traceId) {
  if (!traceId) return el("td", {}, "—");
  return el("td", { class: "trace" }, el("code", { title: "make trace ID=" + traceId }, `make trace ID=${traceId}`));
}

// notice and showProblem write the page's two message areas.
export function notice(text) {
  document.getElementById("notice").textContent = text;
}

export function showProblem(p) {
  const box = document.getElementById("problem");
  if (!p) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const parts = [el("p", {}, el("strong", {}, p.title + (p.status ? ` (${p.status})` : "")), p.detail ? " — " + p.detail : "")];
  if (p.errors.length) parts.push(el("ul", {}, ...p.errors.map((f) => el("li", {}, `${f.field}: ${f.detail}`))));
  if (p.retryAfter) parts.push(el("p", {}, `You can try again in ${p.retryAfter} s.`));
  if (p.orderId) parts.push(el("p", {}, "Order: ", el("code", {}, p.orderId)));
  if (p.traceId) parts.push(el("p", {}, "Quote trace ", el("code", {}, p.traceId), " when you ask for help."));
  box.replaceChildren(...parts);
  box.hidden = false;
  box.focus();
}

// wireSignIn runs the header's sign-in form; onChange(customer) follows.
// With only set, a session of another account counts as signed out here
// (a customer's session on the operator's page).
export function wireSignIn(onChange, only = "") {
  const form = document.getElementById("signin");
  const who = document.getElementById("who");
  const show = (customer) => {
    form.hidden = !!customer;
    who.hidden = !customer;
    document.getElementById("who-name").textContent = customer;
    onChange(customer);
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showProblem(null);
    try {
      show(await signIn(document.getElementById("customer").value));
    } catch (p) {
      showProblem(p);
    }
  });
  document.getElementById("signout").addEventListener("click", () => {
    signOut();
    show("");
  });
  const current = signedIn();
  show(only && current !== only ? "" : current);
}
