/**
 * The client: every operation of the HTTP API (docs/api.md), signed writes made here. Several
 * servers are tried in turn (the last that answered first); a server that does not answer, or
 * answers 502/503/504, is skipped for the next, `retries` rounds over. Writes are safe to send
 * again: a record's id is its content, so a second copy is answered as a duplicate.
 */
import { Body, Fields, Key, draft, sign } from "./signing.js";
import { StemeDBError, Unavailable } from "./errors.js";

export interface Record extends Body {
  id: string;
  sequence: number;
  recorded_at: string;
  lifecycle_stage: string;
  agent_id: string;
  subject: string;
  predicate: string;
  value: unknown;
  timestamp: string;
}

export interface WriteResult { id: string; sequence: number; duplicate?: boolean }
export interface BatchResult { accepted: number; duplicates: number; rejected: number; results: Body[] }
export interface Group {
  subject: string;
  predicate: string;
  winner: Record;
  conflict_score: number;
  explanation: string;
  assertions: Record[];
  assertions_total: number;
}
export interface QueryResult { lens: string; groups: Group[]; next_cursor: string | null }

export interface QueryOptions {
  predicate?: string;
  lens?: "evidence" | "recency" | "authority" | "consensus" | "conflict" | "layered";
  as_of?: string;
  known_at?: string;
  at_sequence?: number;
  min_sequence?: number;
  include_retracted?: boolean;
  include_superseded?: boolean;
  winner_only?: boolean;
  limit?: number;
  cursor?: string;
}

export interface ClientOptions {
  /** One server URL or several; default http://127.0.0.1:18180. A bare host:port means http. */
  urls?: string | string[];
  /** Sent as X-API-Key. */
  apiKey?: string;
  /** Rounds over the servers after the first (default 2). */
  retries?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
}

const RETRYABLE = new Set([502, 503, 504]);
const PAUSE_MS = 200;

interface Request { method: string; path: string; params?: object; body?: unknown; raw?: boolean; notFoundIsNull?: boolean }

export class Client {
  readonly urls: string[];
  private preferred = 0;
  private readonly apiKey?: string;
  private readonly retries: number;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions = {}) {
    const urls = options.urls ?? "http://127.0.0.1:18180";
    this.urls = (Array.isArray(urls) ? urls : [urls]).map((u) => (u.includes("://") ? u : `http://${u}`).replace(/\/+$/, ""));
    if (this.urls.length === 0) throw new Error("no server URL");
    this.apiKey = options.apiKey;
    this.retries = Math.max(0, options.retries ?? 2);
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  private async call<T>(request: Request): Promise<T> {
    const causes: string[] = [];
    const n = this.urls.length;
    for (let attempt = 0; attempt < n * (this.retries + 1); attempt++) {
      const index = (this.preferred + attempt) % n;
      const url = this.urls[index] + request.path + query(request.params);
      let response: Response;
      try {
        response = await fetch(url, {
          method: request.method,
          headers: { ...(this.apiKey ? { "x-api-key": this.apiKey } : {}), ...(request.body === undefined ? {} : { "content-type": "application/json" }) },
          body: request.body === undefined ? undefined : JSON.stringify(request.body),
          signal: AbortSignal.timeout(this.timeoutMs),
          // No redirects: fetch would carry the x-api-key header to another host.
          redirect: "error",
        });
      } catch (e) {
        causes.push(`${this.urls[index]}: ${(e as Error).cause ?? e}`);
        continue;
      }
      if (RETRYABLE.has(response.status)) {
        causes.push(`${this.urls[index]}: ${response.status}`);
        await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
        continue;
      }
      this.preferred = index;
      return this.answer<T>(request, response);
    }
    throw new Unavailable(this.urls, causes);
  }

  private async answer<T>(request: Request, response: Response): Promise<T> {
    if (request.notFoundIsNull && response.status === 404) return null as T;
    const text = await response.text();
    if (response.status >= 400) {
      let problem: Record | string = text;
      try { problem = JSON.parse(text); } catch { /* the text itself is the problem */ }
      throw new StemeDBError(response.status, problem);
    }
    return (request.raw ? text : text ? JSON.parse(text) : {}) as T;
  }

  health(): Promise<Body> { return this.call({ method: "GET", path: "/v1/health" }); }

  /** Posts one signed record (the body plus `signature`). */
  write(wire: Body): Promise<WriteResult> { return this.call({ method: "POST", path: "/v1/assert", body: wire }); }

  /** Signs an assertion here with `key` and posts it. */
  async assert(key: Key, agent: string, subject: string, predicate: string, value: unknown, fields: Fields = {}): Promise<WriteResult> {
    return this.write(await sign(draft(agent, subject, predicate, value, fields), key));
  }

  writeBatch(wires: Body[]): Promise<BatchResult> {
    return this.call({ method: "POST", path: "/v1/assert/batch", body: { assertions: wires } });
  }

  query(subject: string, options: QueryOptions = {}): Promise<QueryResult> {
    return this.call({ method: "GET", path: "/v1/query", params: { subject, ...options } });
  }

  /** Every group of a query, page after page. */
  async *queryAll(subject: string, options: QueryOptions = {}): AsyncGenerator<Group> {
    let cursor: string | undefined;
    do {
      const page = await this.query(subject, { ...options, cursor });
      yield* page.groups;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  get(id: string): Promise<Record | null> {
    return this.call({ method: "GET", path: `/v1/assertions/${recordId(id)}`, notFoundIsNull: true });
  }

  private async control(path: string, key: Key, agent: string, subject: string, predicate: string, value: unknown): Promise<Body> {
    return this.call({ method: "POST", path, body: await sign(draft(agent, subject, predicate, value), key) });
  }

  /** Retracts an assertion id, or a subject such as `source/TRIAL`; `cascade`: what rests on it too. */
  retract(key: Key, agent: string, target: string, reason: string, cascade = false): Promise<Body> {
    return this.control("/v1/retract", key, agent, target, "stemedb:retracts", cascade ? { reason, cascade } : { reason });
  }

  reinstate(key: Key, agent: string, retractionId: string, reason: string): Promise<Body> {
    return this.control("/v1/retract", key, agent, recordId(retractionId), "stemedb:retracts", { reason });
  }

  vote(key: Key, agent: string, id: string, up = true): Promise<Body> {
    return this.control("/v1/vote", key, agent, recordId(id), "stemedb:vote", up ? 1 : -1);
  }

  /** `agent` trusts `trustee` (an agent id) with `weight` in [0, 1]. */
  trust(key: Key, agent: string, trustee: string, weight = 1): Promise<Body> {
    return this.control("/v1/trust", key, agent, `agent/${trustee}`, "stemedb:trusts", weight);
  }

  provenance(id: string, as_of?: string): Promise<Body> {
    return this.call({ method: "GET", path: `/v1/assertions/${recordId(id)}/provenance`, params: { as_of } });
  }

  skeptic(subject: string, predicate: string, as_of?: string): Promise<Body> {
    return this.call({ method: "GET", path: "/v1/skeptic", params: { subject, predicate, as_of } });
  }

  /** The audit export (JSON Lines text); check it offline with `verifyExport`. */
  auditExport(subject: string, as_of?: string): Promise<string> {
    return this.call({ method: "GET", path: "/v1/audit/export", params: { subject, as_of }, raw: true });
  }
}

function query(params?: object): string {
  const entries = Object.entries(params ?? {}).filter(([, v]) => v !== undefined && v !== false);
  return entries.length ? "?" + new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString() : "";
}

function recordId(text: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new Error(`${JSON.stringify(text)} is not a record id (64 hex characters)`);
  return text.toLowerCase();
}
