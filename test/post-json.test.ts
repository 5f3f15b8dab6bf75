import http from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { postJson } from "../src/escalation/post-json.js";
import { cleanup, onCleanup } from "./harness.js";

afterAll(cleanup);

// A receiver that echoes what it was sent, with padding that puts the secret across the 200-character cut.
async function echoing(pad: number): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(400).end(`${"x".repeat(pad)} ${req.url} ${req.headers.authorization}`));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  onCleanup(() => new Promise<void>((ok) => server.close(() => ok())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe("postJson's excerpt of a receiver's answer", () => {
  it.each([150, 185, 195, 199])("hides the URL's token and the header's key before it cuts at 200 characters (padding %i)", async (pad) => {
    const token = "T0KEN0123456789abcdefSECRET";
    const key = "K3Y0123456789abcdefSECRET";
    const reply = await postJson(new URL(`${await echoing(pad)}/hooks/${token}`), "{}", {
      where: "test",
      timeoutMs: 5_000,
      signal: AbortSignal.timeout(10_000),
      headers: { authorization: `GenieKey ${key}` },
    });
    expect(reply).toMatchObject({ status: 400 });
    const text = (reply as { text: string }).text;
    expect(text.length).toBeLessThanOrEqual(200);
    for (const secret of [token, key]) for (let n = 6; n <= secret.length; n++) expect(text).not.toContain(secret.slice(0, n));
  });
});
