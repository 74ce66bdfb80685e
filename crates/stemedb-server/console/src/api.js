// Requests to the server the console came from. The key goes in the Authorization header of
// each request, never in a URL or a cookie; it is kept in this tab's sessionStorage only.

const KEY_ITEM = "stemedb-console-key";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export class Api {
  constructor(key) {
    this.key = key;
  }

  static saved() {
    const key = sessionStorage.getItem(KEY_ITEM);
    return key ? new Api(key) : null;
  }

  save() {
    sessionStorage.setItem(KEY_ITEM, this.key);
  }

  static forget() {
    sessionStorage.removeItem(KEY_ITEM);
  }

  /** GET a JSON answer; `params` with undefined or empty values are left out. */
  async get(path, params = {}) {
    const response = await this.send("GET", withQuery(path, params));
    return response.json();
  }

  async text(path) {
    const response = await this.send("GET", path);
    return response.text();
  }

  async post(path, body) {
    const response = await this.send("POST", path, JSON.stringify(body));
    return response.json();
  }

  async send(method, path, body) {
    const headers = { authorization: `Bearer ${this.key}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(path, { method, headers, body });
    if (!response.ok) {
      const problem = await response.json().catch(() => null);
      throw new ApiError(response.status, problem);
    }
    return response;
  }
}

function withQuery(path, params) {
  const kept = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return kept.length ? `${path}?${new URLSearchParams(kept)}` : path;
}

/** Percent-encodes one path segment (agent ids hold `/`). A segment of "." or ".." would be
 * resolved away by the browser (encoded or not) and reach another route, so it is refused. */
export function segment(value) {
  if (value === "." || value === "..") throw new Error(`"${value}" cannot be asked for in a URL path`);
  return encodeURIComponent(value);
}
