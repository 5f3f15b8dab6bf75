import { afterEach, describe, expect, it } from "vitest";
import { positionIn, removeTrees, writeTree } from "../../test/fixtures/config-tmp.js";
import { formatIssue } from "./issues.js";
import { loadConfig } from "./load.js";
import { nodeAt, parseYaml } from "./locate.js";
import { scanReferences, substituteSecrets } from "./secrets.js";

afterEach(removeTrees);

describe("scanReferences", () => {
  it("splits literal text and references, with $${ as a literal ${", () => {
    expect(scanReferences("a${X}b${file:./s}$${Y}")).toEqual({
      parts: ["a", { ref: "X", offset: 1 }, "b", { ref: "file:./s", offset: 6 }, "${Y}"],
    });
    expect(scanReferences("costs $5")).toEqual({ parts: ["costs $5"] });
  });

  it("rejects malformed references at their offset", () => {
    expect(scanReferences("x ${not-a-name}").error).toMatchObject({ offset: 2 });
    expect(scanReferences("x ${OPEN").error).toMatchObject({ offset: 2, message: "unclosed ${ reference" });
  });
});

describe("substituteSecrets", () => {
  it("fills env vars and trimmed files relative to baseDir, leaves keys alone, and records secrets", async () => {
    const dir = await writeTree({ "secret.txt": "  from-a-file\n" });
    const text = 'a: "${TOKEN}"\nb: "pre-${file:./secret.txt}-post"\n"${KEY}": kept\nc: "$${LITERAL}"\n';
    const source = parseYaml(`${dir}/m.yaml`, text).source!;
    const result = await substituteSecrets(source, { env: { TOKEN: "t0ken-value", KEY: "no" }, baseDir: dir });
    expect(result.issues).toEqual([]);
    expect(source.doc.toJS()).toEqual({ a: "t0ken-value", b: "pre-from-a-file-post", "${KEY}": "kept", c: "${LITERAL}" });
    expect(result.secrets).toEqual(["t0ken-value", "from-a-file"]);
    const a = nodeAt(source, ["a"]).node;
    expect(source.substituted.get(a as never)).toBe("${TOKEN}");
  });

  it("fills a cluster's names from the environment without taking them for secrets", async () => {
    const dir = await writeTree({});
    const text = 'cluster: { name: "${CLUSTER}", node: "${HOSTNAME}" }\nstore: { postgres: { url: "${URL}" } }\n';
    const source = parseYaml(`${dir}/m.yaml`, text).source!;
    const env = { CLUSTER: "prod", HOSTNAME: "n1", URL: "postgres://medic:pw-1234@db/medic" };
    const result = await substituteSecrets(source, { env, baseDir: dir });
    expect(source.doc.toJS()).toEqual({ cluster: { name: "prod", node: "n1" }, store: { postgres: { url: env.URL } } });
    // A host name in every log line would otherwise read [secret], and a two-letter one would warn.
    expect(result.secrets).toEqual([env.URL]);
    expect(result.warnings).toEqual([]);
  });

  it("warns, at the reference, about a value too short to redact", async () => {
    const dir = await writeTree({});
    const text = 'port: "${PORT}"\nkey: "${KEY}"\n';
    const source = parseYaml(`${dir}/m.yaml`, text).source!;
    const result = await substituteSecrets(source, { env: { PORT: "80", KEY: "long-enough" }, baseDir: dir });
    expect(result.issues).toEqual([]);
    expect(result.warnings).toEqual([
      expect.objectContaining({
        ...positionIn(text, "${PORT}"),
        path: "port",
        level: "warning",
        message: "the value of ${PORT} has only 2 characters: too short for medic to keep out of its output",
      }),
    ]);
  });

  it("locates an unset variable and an unreadable file at the reference, with hints", async () => {
    const dir = await writeTree({});
    const text = 'x:\n  url: "http://h/${MISSING_VAR}"\n  key: ${file:./nope.txt}\n';
    const source = parseYaml(`${dir}/m.yaml`, text).source!;
    const result = await substituteSecrets(source, { env: {}, baseDir: dir });
    expect(result.issues).toEqual([
      {
        file: `${dir}/m.yaml`,
        ...positionIn(text, "${MISSING_VAR}"),
        path: "x.url",
        level: "error",
        message: "environment variable MISSING_VAR is not set",
        hint: "export MISSING_VAR=… before starting medic, or use ${file:/path}",
      },
      expect.objectContaining({
        ...positionIn(text, "${file:"),
        path: "x.key",
        message: expect.stringContaining(`${dir}/nope.txt: file not found`),
      }),
    ]);
    expect([...result.failed]).toEqual(["x.url", "x.key"]);
  });
});

describe("secrets never reach an issue", () => {
  it("shows ${VAR} instead of the value in every message and hint", async () => {
    const env = { PROBE_URL: "localhost:8000/s3cr3t-path", PORT: "s3cr3t-port", WAIT: "s3cr3t-wait", PASS: "hunter2-pass" };
    const text = [
      "targets:",
      "  - name: api",
      '    probe: { http: { url: "${PROBE_URL}", headers: { Authorization: "Basic ${PASS}" } } }',
      '    interval: "${WAIT}"',
      "  - name: db",
      '    probe: { tcp: { port: "${PORT}" } }',
      '    dependsOn: ["${PASS}"]',
      "",
    ].join("\n");
    const dir = await writeTree({ "medic.yaml": text });
    const result = await loadConfig(`${dir}/medic.yaml`, { env });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const printed = result.issues.map(formatIssue).join("\n");
    for (const secret of Object.values(env)) expect(printed).not.toContain(secret);
    expect(printed).toContain('got "${PROBE_URL}"');
    expect(printed).toContain('got "${PORT}"');
    expect(printed).toContain('unknown target "[secret]"');
  });

  it("lists every substituted value in Config.secrets", async () => {
    const dir = await writeTree({
      token: "file-secret\n",
      "medic.yaml": 'targets:\n  - name: api\n    probe: { http: { url: "${URL}", headers: { X-Token: "${file:./token}" } } }\n',
    });
    const result = await loadConfig(`${dir}/medic.yaml`, { env: { URL: "http://127.0.0.1:1/health" } });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.config.secrets).toEqual(["http://127.0.0.1:1/health", "file-secret"]);
  });
});

describe("long secrets", () => {
  it("stay hidden when a message would show them cut short", async () => {
    const secret = `localhost/${"s".repeat(80)}`;
    const dir = await writeTree({ "medic.yaml": 'targets:\n  - name: api\n    probe: { tcp: { port: "${LONG}" } }\n' });
    const result = await loadConfig(`${dir}/medic.yaml`, { env: { LONG: secret } });
    if (result.ok) throw new Error("expected issues");
    const printed = result.issues.map(formatIssue).join("\n");
    expect(printed).toContain('got "${LONG}"');
    expect(printed).not.toContain("ssssssss");
  });
});
