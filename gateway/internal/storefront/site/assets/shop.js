// The shop: catalog, cart, checkout and the customer's orders, through the
// public REST API only (common.js).
import { api, el, money, notice, showProblem, signedIn, traceCell, when, wireSignIn } from "./common.js";

const session = window.sessionStorage;
const $ = (id) => document.getElementById(id);

// What a status means to a shopper.
const statusText = {
  PENDING: "Pending: finishing",
  CONFIRMED: "Confirmed",
  REJECTED: "Rejected",
  PAYMENT_DECLINED: "Payment declined",
  PAYMENT_FAILED: "Payment refused",
  CANCELLING: "Cancelling",
  CANCELLED: "Cancelled",
  NEEDS_ATTENTION: "Being looked at by our staff",
};
const underWay = new Set(["PENDING", "CANCELLING", "NEEDS_ATTENTION"]);

let products = new Map(); // id → product, as the catalog last said
const cart = new Map(JSON.parse(session.getItem("cart") || "[]")); // id → quantity
let paying = false;
let pollTimer = 0;

function saveCart() {
  session.setItem("cart", JSON.stringify([...cart]));
}

// A key made once per checkout: a second click, a retry after a lost
// answer or a reload of the page sends the same key, so the gateway makes
// one order whatever happens (README, "Idempotency").
function checkoutKey() {
  let key = session.getItem("checkoutKey");
  if (!key) {
    key = "web-" + Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
    session.setItem("checkoutKey", key);
  }
  return key;
}

async function loadProducts() {
  try {
    const { body } = await api("GET", "/v1/products?page_size=50");
    products = new Map(body.products.map((p) => [p.id, p]));
    renderProducts();
    renderCart();
  } catch (p) {
    showProblem(p);
  }
}

function renderProducts() {
  const items = [...products.values()].map((p) => {
    const qty = el("input", { type: "number", min: "1", max: String(Math.max(1, p.available)), value: "1", id: `qty-${p.id}`, inputmode: "numeric" });
    const add = el("button", { type: "button", disabled: p.available < 1, onclick: () => addToCart(p.id, Number(qty.value)) },
      p.available < 1 ? "Sold out" : "Add to cart");
    return el("li", { class: "product", "data-product": p.id },
      el("h3", {}, p.name),
      el("p", { class: "price" }, money(p.price)),
      el("p", { class: "stock", "data-available": String(p.available) }, `${p.available} in stock`),
      el("div", { class: "add" }, el("label", { for: `qty-${p.id}` }, "Quantity"), qty, add));
  });
  $("products").replaceChildren(...items);
}

function addToCart(id, qty) {
  if (!Number.isInteger(qty) || qty < 1) {
    notice("Choose a quantity of at least 1.");
    return;
  }
  cart.set(id, (cart.get(id) || 0) + qty);
  session.removeItem("checkoutKey"); // another cart is another order
  saveCart();
  renderCart();
  notice(`Added ${qty} × ${products.get(id)?.name ?? id} to the cart.`);
}

function renderCart() {
  const rows = [];
  let total = null;
  for (const [id, qty] of cart) {
    const p = products.get(id);
    const line = p ? { currency: p.price.currency, amount_minor: p.price.amount_minor * qty } : null;
    if (line) total = total ? { currency: total.currency, amount_minor: total.amount_minor + line.amount_minor } : line;
    rows.push(el("tr", { "data-cart": id },
      el("td", {}, p?.name ?? id),
      el("td", {}, String(qty)),
      el("td", {}, line ? money(line) : "—"),
      el("td", {}, el("button", { type: "button", "aria-label": `Remove ${p?.name ?? id}`, onclick: () => {
        cart.delete(id);
        session.removeItem("checkoutKey");
        saveCart();
        renderCart();
      } }, "Remove"))));
  }
  $("cart").querySelector("tbody").replaceChildren(...rows);
  $("cart").hidden = rows.length === 0;
  $("cart-empty").hidden = rows.length > 0;
  $("cart-total").textContent = total ? money(total) : "";
  $("pay").disabled = paying || rows.length === 0 || !signedIn();
  $("pay").textContent = paying ? "Paying…" : signedIn() ? "Pay" : "Sign in to pay";
}

async function pay() {
  if (paying) return; // a double click sends one request (and one key)
  paying = true;
  renderCart();
  notice("");
  showProblem(null);
  const items = [...cart].map(([product_id, quantity]) => ({ product_id, quantity }));
  const token = document.querySelector("input[name=card]:checked").value;
  try {
    const { status, body } = await api("POST", "/v1/orders", { body: { items, payment_token: token }, idempotencyKey: checkoutKey() });
    session.removeItem("checkoutKey");
    cart.clear();
    saveCart();
    notice(status === 202
      ? `Order ${body.id} is accepted and still finishing; its status below follows it.`
      : `Order ${body.id} is ${statusText[body.status]?.toLowerCase() ?? body.status}.`);
  } catch (p) {
    // A 4xx is a final answer: the next attempt is a new order. After a 5xx
    // or a lost answer the key is kept, so trying again learns the outcome
    // instead of ordering twice.
    if (p.status >= 400 && p.status < 500 && p.status !== 408 && p.status !== 429) session.removeItem("checkoutKey");
    showProblem(p);
  } finally {
    paying = false;
    await Promise.all([loadProducts(), loadOrders()]);
  }
}

async function cancel(id) {
  notice("");
  showProblem(null);
  try {
    const { status, body } = await api("POST", `/v1/orders/${encodeURIComponent(id)}/cancel`, { body: {} });
    notice(status === 202 ? `Order ${id} is being cancelled.` : `Order ${id} is ${statusText[body.status]?.toLowerCase() ?? body.status}.`);
  } catch (p) {
    showProblem(p);
  }
  await Promise.all([loadProducts(), loadOrders()]);
}

async function loadOrders() {
  clearTimeout(pollTimer);
  if (!signedIn()) {
    $("orders").hidden = true;
    $("orders-empty").hidden = false;
    $("orders-empty").textContent = "Sign in to see your orders.";
    return;
  }
  let orders;
  try {
    ({ body: { orders } } = await api("GET", "/v1/orders?page_size=20"));
  } catch (p) {
    showProblem(p);
    return;
  }
  orders.sort((a, b) => b.created_at.localeCompare(a.created_at));
  const rows = orders.map((o) => el("tr", { "data-order": o.id, "data-status": o.status },
    el("td", {}, el("code", {}, o.id)),
    el("td", {}, when(o.created_at)),
    el("td", {}, money(o.total)),
    el("td", {}, el("span", { class: `status s-${o.status.toLowerCase()}` }, statusText[o.status] ?? o.status),
      o.reason ? el("span", { class: "reason" }, ` (${o.reason})`) : undefined),
    traceCell(o.trace_id),
    el("td", {}, o.status === "CONFIRMED"
      ? el("button", { type: "button", "aria-label": `Cancel order ${o.id}`, onclick: () => cancel(o.id) }, "Cancel")
      : "")));
  $("orders").querySelector("tbody").replaceChildren(...rows);
  $("orders").hidden = rows.length === 0;
  $("orders-empty").hidden = rows.length > 0;
  $("orders-empty").textContent = "No orders yet.";
  // Live status: look again while something is under way.
  if (orders.some((o) => underWay.has(o.status))) pollTimer = setTimeout(loadOrders, 1000);
}

$("pay").addEventListener("click", pay);
wireSignIn(() => {
  renderCart();
  loadOrders();
});
loadProducts();
