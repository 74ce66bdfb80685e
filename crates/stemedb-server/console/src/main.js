// The console's frame: the key form, the panels' navigation and the hash routes
// (`#explore?subject=…`). Each panel is a function of (api, who, params, view) that fills
// `view`; it sets `data-ready` on the view when what it shows is loaded, for people watching
// a spinner and for the browser tests.
import { Api, ApiError } from "./api.js";
import { add, fill, h } from "./dom.js";
import { overview } from "./panels/overview.js";
import { explore } from "./panels/explore.js";
import { conflicts } from "./panels/conflicts.js";
import { provenance } from "./panels/provenance.js";
import { timeTravel } from "./panels/time.js";
import { agents } from "./panels/agents.js";
import { review } from "./panels/review.js";

const PANELS = [
  ["overview", "Overview", overview],
  ["explore", "Explore", explore],
  ["conflicts", "Conflicts", conflicts],
  ["provenance", "Provenance", provenance],
  ["time", "Time travel", timeTravel],
  ["agents", "Agents and trust", agents],
  ["review", "Review", review],
];

const root = document.getElementById("app");
let session = null;

async function start() {
  const api = Api.saved();
  if (!api) return showLogin();
  try {
    session = { api, who: await api.get("/v1/whoami") };
  } catch (error) {
    Api.forget();
    return showLogin(error instanceof ApiError ? error.message : String(error));
  }
  showFrame();
}

function showLogin(message) {
  session = null;
  const input = h("input", { type: "password", id: "key", autocomplete: "off", placeholder: "sdb_…", required: true });
  const form = h("form", { id: "login", onsubmit: (event) => {
    event.preventDefault();
    new Api(input.value.trim()).save();
    start();
  } },
  h("h1", {}, "StemeDB"),
  h("label", { for: "key" }, "API key"),
  input,
  h("button", { type: "submit" }, "Open the console"),
  message ? h("p", { class: "error", role: "alert" }, message) : null,
  h("p", { class: "hint" }, "The key stays in this tab (sessionStorage) and is sent as a header only. ",
    "A new server writes an admin key to DATA_DIR/admin.key."));
  fill(root, form);
  input.focus();
}

function showFrame() {
  const { who } = session;
  const nav = h("nav", {},
    PANELS.map(([id, title]) => h("a", { href: `#${id}`, "data-panel": id }, title)),
    h("span", { class: "who", id: "who" }, `${who.name || who.key_id} · ${who.role}`),
    h("button", { id: "logout", onclick: () => { Api.forget(); location.hash = ""; showLogin(); } }, "Log out"));
  fill(root, nav, h("main", { id: "view" }));
  route();
}

async function route() {
  if (!session) return;
  const [name, query] = location.hash.slice(1).split("?");
  const panel = PANELS.find(([id]) => id === name) ?? PANELS[0];
  const params = Object.fromEntries(new URLSearchParams(query ?? ""));
  for (const a of root.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.panel === panel[0]);
  // A new element per visit: a panel still loading for the last route fills a detached one.
  const view = h("main", { id: "view", "data-panel": panel[0] });
  document.getElementById("view").replaceWith(view);
  try {
    await panel[2](session.api, session.who, params, view);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      Api.forget();
      return showLogin(error.message);
    }
    add(view, h("p", { class: "error", role: "alert" }, String(error.message ?? error)));
  }
  view.dataset.ready = "true";
}

window.addEventListener("hashchange", route);
start();
