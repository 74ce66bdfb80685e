// The one way the console makes markup: elements and text nodes, never HTML strings. Every
// value from the server (subjects, values, agent ids, reasons) reaches the page through
// `text` nodes here, so markup in it shows as text and runs nothing.

/** An element with attributes, listeners (`on<event>`) and children (nodes or text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

/** Appends children to `el`, leaving out undefined, null and false (which the DOM's own
 * `append` would show as the words). */
export function add(el, ...children) {
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `el` holds. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A link to another view of the console: `#panel?name=value…`, each value encoded. */
export function link(panel, params, ...children) {
  return h("a", { href: route(panel, params) }, ...children);
}

/** `#panel?…` with the parameters that have a value (undefined, null and "" are left out). */
export function route(panel, params = {}) {
  const kept = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  const query = new URLSearchParams(kept).toString();
  return `#${panel}${query ? `?${query}` : ""}`;
}

/** A value as a person reads it: strings bare, anything else as JSON. */
export function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A table from a header row and rows of cells. */
export function table(headers, rows, attrs = {}) {
  return h("table", attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell) => h("td", {}, cell))))));
}

/** A short id: its first 12 hex digits, the whole one in the tooltip. */
export function shortId(id) {
  return h("code", { title: id }, `${String(id).slice(0, 12)}…`);
}

export function number(x, digits = 3) {
  return typeof x === "number" ? x.toFixed(digits) : "—";
}

/** A term and its value, one cell of a `dl.cards` grid. */
export function card(title, value, attrs = {}) {
  return h("div", attrs, h("dt", {}, title), h("dd", {}, value));
}

/** A form of one `id` field that moves to `#panel?id=…`; `input` sets the field's attributes. */
export function idForm(panel, params, input, button) {
  const field = h("input", { value: params.id ?? "", ...input });
  return h("form", { class: "search", onsubmit: (event) => {
    event.preventDefault();
    location.hash = route(panel, { id: field.value.trim() });
  } }, field, h("button", { type: "submit" }, button));
}
