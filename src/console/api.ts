// medic's API, as the console calls it: URLs relative to the page (so a reverse proxy may serve it
// on a sub-path), the token in the Authorization header, never in a cookie another site could ride.

const TOKEN_KEY = "medic.token";

/** A refusal or failure from the API: its status, what it said, and its hint. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** The token this tab was given, if any (kept for the tab's life only, in sessionStorage). */
export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Keeps (or, with null, forgets) the token for this tab. */
export function setToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** Called when the API refuses the token (or wants one): the console asks for it. */
export const onUnauthorized = new Set<() => void>();

/** Request headers: the token when there is one. */
export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken();
  return { ...extra, ...(token && { authorization: `Bearer ${token}` }) };
}

/** GET a JSON document. `quiet`: a 401 is this call's business only (the token prompt is not opened). */
export async function getJson<T>(path: string, opts: { signal?: AbortSignal; quiet?: boolean } = {}): Promise<T> {
  const res = await call(
    path,
    { headers: authHeaders({ accept: "application/json" }), ...(opts.signal && { signal: opts.signal }) },
    opts.quiet,
  );
  return (await res.json()) as T;
}

/** GET a text document (the postmortem's Markdown). */
export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  const res = await call(path, { headers: authHeaders(), ...(signal && { signal }) });
  return res.text();
}

/** GET a file as bytes (an artifact): a link cannot send the token, so the console fetches it. */
export async function getBlob(path: string): Promise<Blob> {
  const res = await call(path, { headers: authHeaders() });
  return res.blob();
}

/** POST a JSON body; the reply's JSON. */
export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await call(path, {
    method: "POST",
    headers: authHeaders({ "content-type": "application/json", accept: "application/json" }),
    body: JSON.stringify(body),
  });
  return (await res.json()) as T;
}

async function call(path: string, init: RequestInit, quiet = false): Promise<Response> {
  if (path.startsWith("/")) throw new Error(`API paths are relative to the page (got ${path})`);
  let res: Response;
  try {
    res = await fetch(path, { ...init, credentials: "omit", cache: "no-store" });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiProblem(0, "medic does not answer", "is it running? The page retries on its own");
  }
  if (res.ok) return res;
  let error = `${res.status} ${res.statusText}`;
  let hint = "";
  try {
    const body = (await res.json()) as { error?: string; hint?: string };
    error = body.error ?? error;
    hint = body.hint ?? "";
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  if (res.status === 401 && !quiet) onUnauthorized.forEach((f) => f());
  throw new ApiProblem(res.status, error, hint);
}
