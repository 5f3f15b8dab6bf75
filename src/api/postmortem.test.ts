import { afterEach, describe, expect, it } from "vitest";
import { BEARER, closeApis, standInConfig, standInDaemon, startApi, TOKEN } from "../../test/fixtures/api-stand-in.js";

afterEach(closeApis);

describe("GET /api/incidents/ID/postmortem", () => {
  it("is the postmortem draft in Markdown, as medic incidents show --format markdown writes it, with the incidents suppressed under it", async () => {
    const daemon = standInDaemon();
    daemon.store.append(
      "aaaa1111",
      { type: "opened", target: "db", kind: "db_disconnect", severity: "P1", evidence: `refused; token ${TOKEN}` },
      1_000,
    );
    daemon.store.append(
      "bbbb2222",
      { type: "opened", target: "web", kind: "server_down", severity: "P1", evidence: "502", root: "aaaa1111" },
      1_500,
    );
    daemon.store.append("aaaa1111", { type: "resolved", reason: "verified: healthy for 2 rounds" }, 9_000);
    const { url } = await startApi(await standInConfig({ token: true }), daemon);
    expect((await fetch(`${url}/api/incidents/aaaa1111/postmortem`)).status).toBe(401);
    const res = await fetch(`${url}/api/incidents/aaaa/postmortem`, { headers: BEARER });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/markdown; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="medic-incident-aaaa1111.md"');
    const text = await res.text();
    expect(text.split("\n")[0]).toBe("# Incident aaaa1111: `db_disconnect` on db");
    expect(text).toContain("## Related incidents");
    expect(text).toMatch(/\| bbbb2222 \| web \| `server_down` \|/);
    // The token file's token is a secret: it never leaves the API, whatever text carries it.
    expect(text).not.toContain(TOKEN);
    expect(text).toContain("[secret]");
  });

  it("answers 404 with a hint for an unknown incident", async () => {
    const { url } = await startApi(await standInConfig(), standInDaemon());
    const res = await fetch(`${url}/api/incidents/ffff0000/postmortem`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'no incident "ffff0000"', hint: "GET /api/incidents lists them" });
  });
});
