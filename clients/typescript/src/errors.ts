/** What a call can fail with: the server's problem, or no server that answered. */
export class StemeDBError extends Error {
  readonly type?: string;
  readonly title?: string;
  readonly detail: string;
  readonly field?: string;
  readonly rule?: string;

  constructor(readonly status: number, readonly problem: Record<string, unknown> | string) {
    const doc = typeof problem === "object" ? problem : {};
    const detail = String(doc.detail ?? problem);
    super(`server answered ${status}: ${detail}`);
    this.name = "StemeDBError";
    this.detail = detail;
    this.type = doc.type as string | undefined;
    this.title = doc.title as string | undefined;
    this.field = doc.field as string | undefined;
    this.rule = doc.rule as string | undefined;
  }
}

export class Unavailable extends Error {
  constructor(readonly urls: string[], readonly causes: string[]) {
    super(`no StemeDB server answered at ${urls.join(", ")} (last: ${causes.at(-1) ?? "no attempt"}); ` +
      "start one (`stemedb serve`) or pass its URL");
    this.name = "Unavailable";
  }
}
