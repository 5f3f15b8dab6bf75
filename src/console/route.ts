// In-page navigation by the URL's hash (#/incidents/ID): the server serves only / and its files,
// so a reverse proxy on a sub-path needs no rewrite rules for the console's pages.

/** The incident list's filters; empty means any. */
export interface IncidentFilters {
  state: string;
  target: string;
  severity: string;
}

/** A page of the console. */
export type Route =
  { page: "fleet" } | { page: "incidents"; filters: IncidentFilters } | { page: "incident"; id: string } | { page: "status" };

const NO_FILTERS: IncidentFilters = { state: "", target: "", severity: "" };

/** The page a hash names; the fleet for anything else. */
export function parseRoute(hash: string): Route {
  const [path = "", query = ""] = hash.replace(/^#/, "").split("?", 2);
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "incidents" && parts.length === 2) return { page: "incident", id: safeDecode(parts[1]!) };
  if (parts[0] === "incidents" && parts.length === 1) {
    const q = new URLSearchParams(query);
    return {
      page: "incidents",
      filters: { state: q.get("state") ?? "", target: q.get("target") ?? "", severity: q.get("severity") ?? "" },
    };
  }
  if (parts[0] === "status") return { page: "status" };
  return { page: "fleet" };
}

/** The hash of a page (the inverse of parseRoute). */
export function routeHash(route: Route): string {
  switch (route.page) {
    case "fleet":
      return "#/";
    case "status":
      return "#/status";
    case "incident":
      return `#/incidents/${encodeURIComponent(route.id)}`;
    case "incidents": {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries({ ...NO_FILTERS, ...route.filters })) if (v) q.set(k, v);
      const text = q.toString();
      return `#/incidents${text ? `?${text}` : ""}`;
    }
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
