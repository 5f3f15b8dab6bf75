import { describe, expect, it } from "vitest";
import type { Target } from "../config/types.js";
import { TemplateError, buildTemplateVars, checkTemplate, createRenderer, templateVariables } from "./template.js";

const target: Target = {
  name: "orders-api",
  labels: { team: "payments", base: "http://127.0.0.1:9000", dash: "-v" },
  probe: { kind: "http", params: {} },
  intervalMs: 10_000,
  timeoutMs: 3000,
  failureThreshold: 3,
  successThreshold: 2,
  thresholds: { latencyMs: 1000, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
  dependsOn: [],
};

const incident = (evidence: string) => ({ id: "inc-42", kind: "server_down", severity: "P1", target: "orders-api", evidence });
const renderer = (evidence = "connection refused") => createRenderer(buildTemplateVars(target, incident(evidence)));

/** Runs `f` and returns the TemplateError it throws. */
function templateError(f: () => unknown): TemplateError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TemplateError);
    return err as TemplateError;
  }
  throw new Error("expected a TemplateError");
}

const HOSTILE = [
  "$(reboot); rm -rf / #",
  "--help",
  "-rf",
  "../../etc/passwd",
  "http://evil.example/",
  "%2F..%2F",
  "{{ target.name }}",
  "ünïcødé ✓ 日本",
  "a b\tc",
  "..",
  ".",
];

describe("templateVariables / checkTemplate", () => {
  it("lists variables with offsets, whitespace optional", () => {
    expect(templateVariables("x {{target.name}} y {{  incident.id  }}")).toEqual([
      { name: "target.name", offset: 2 },
      { name: "incident.id", offset: 20 },
    ]);
    expect(checkTemplate("{{ target.labels.anything }} {{ incident.evidence }}")).toEqual([]);
  });

  it("reports unclosed braces and unknown names with a hint", () => {
    const [unclosed] = checkTemplate("http://h/{{ target.name");
    expect(unclosed).toMatchObject({ offset: 9 });
    expect(unclosed!.message).toMatch(/unclosed/);
    const problems = checkTemplate("{{ target.nmae }} {{ env.HOME }} {{ target.labels. }}");
    expect(problems.map((p) => p.offset)).toEqual([0, 18, 33]);
    expect(problems[0]!.message).toContain("target.nmae");
    expect(problems[0]!.hint).toContain("incident.evidence");
    expect(checkTemplate("{{ a | upper }}")[0]!.message).toMatch(/not a variable reference/);
  });
});

describe("buildTemplateVars", () => {
  it("marks config and medic values trusted and evidence external", () => {
    const vars = buildTemplateVars(target, incident("boom"));
    expect(vars["target.labels.team"]).toEqual({ value: "payments", trusted: true });
    expect(vars["incident.kind"]).toEqual({ value: "server_down", trusted: true });
    expect(vars["incident.evidence"]).toEqual({ value: "boom", trusted: false });
    expect(buildTemplateVars(target)["incident.id"]).toBeUndefined();
  });
});

describe("missing and unknown variables", () => {
  it("names a label the target lacks", () => {
    const e = templateError(() => renderer().text("{{ target.labels.region }}"));
    expect(e.code).toBe("TEMPLATE_UNKNOWN_VARIABLE");
    expect(e.message).toContain("region");
    expect(e.message).toContain("orders-api");
    expect(e.hint).toContain("labels");
  });
  it("says incident variables need an incident", () => {
    const e = templateError(() => createRenderer(buildTemplateVars(target)).arg("{{ incident.id }}"));
    expect(e.code).toBe("TEMPLATE_UNKNOWN_VARIABLE");
    expect(e.message).toContain("incident.id");
  });
  it("rejects names outside the list and bad syntax", () => {
    expect(templateError(() => renderer().text("{{ process.env }}")).code).toBe("TEMPLATE_UNKNOWN_VARIABLE");
    expect(templateError(() => renderer().url("http://h/{{ target.name")).code).toBe("TEMPLATE_SYNTAX");
  });
});

describe("text", () => {
  it("substitutes every context", () => {
    expect(
      renderer("db down").text(
        "{{target.name}}/{{ target.labels.team }} {{ incident.id }} {{ incident.kind }} {{ incident.severity }} {{ incident.target }}: {{ incident.evidence }}",
      ),
    ).toBe("orders-api/payments inc-42 server_down P1 orders-api: db down");
  });
  it("never expands a value a second time", () => {
    expect(renderer("{{ target.name }}").text("e={{ incident.evidence }}")).toBe("e={{ target.name }}");
  });
  it.each(["x\ny", "x\ry", "x\0y"])("refuses line breaks and NUL from outside (%j)", (evil) => {
    expect(templateError(() => renderer(evil).text("X-Reason: {{ incident.evidence }}")).code).toBe("TEMPLATE_UNSAFE_VALUE");
  });
});

describe("url", () => {
  const tpl = "http://127.0.0.1:8000/api/restart/{{ incident.evidence }}?team={{ target.labels.team }}";
  it.each(HOSTILE)("keeps the host and puts %j into one path segment", (evil) => {
    if (evil === "." || evil === "..") return; // refused, below
    const url = new URL(renderer(evil).url(tpl));
    expect(url.host).toBe("127.0.0.1:8000");
    expect(url.protocol).toBe("http:");
    const segments = url.pathname.split("/");
    expect(segments.slice(0, 3)).toEqual(["", "api", "restart"]);
    expect(segments).toHaveLength(4);
    expect(decodeURIComponent(segments[3]!)).toBe(evil);
    expect(url.searchParams.get("team")).toBe("payments");
  });
  it("encodes query delimiters from outside", () => {
    const url = new URL(renderer("a&team=evil#x").url("http://h/x?reason={{ incident.evidence }}&team=ops"));
    expect(url.searchParams.get("reason")).toBe("a&team=evil#x");
    expect(url.searchParams.getAll("team")).toEqual(["ops"]);
  });
  it.each([".", ".."])("refuses an external %j path segment", (dots) => {
    expect(templateError(() => renderer(dots).url(tpl)).code).toBe("TEMPLATE_UNSAFE_VALUE");
  });
  it("lets trusted values build the base URL as written", () => {
    expect(renderer().url("{{ target.labels.base }}/hooks/{{ target.name }}")).toBe("http://127.0.0.1:9000/hooks/orders-api");
  });
  it("refuses an external value in the scheme, host or port", () => {
    const e = templateError(() => renderer("evil.example").url("http://{{ incident.evidence }}/x"));
    expect(e.code).toBe("TEMPLATE_UNSAFE_VALUE");
    expect(templateError(() => renderer("evil.example").url("{{ incident.evidence }}")).code).toBe("TEMPLATE_UNSAFE_VALUE");
  });
  it("requires an http(s) URL", () => {
    expect(templateError(() => renderer().url("ftp://h/{{ target.name }}")).code).toBe("TEMPLATE_BAD_URL");
    expect(templateError(() => renderer().url("{{ target.name }}/x")).code).toBe("TEMPLATE_BAD_URL");
  });
});

describe("arg", () => {
  it.each(HOSTILE.filter((v) => !v.startsWith("-")))("keeps %j as one literal element", (evil) => {
    const r = renderer(evil);
    expect(r.arg("{{ incident.evidence }}")).toBe(evil);
    expect(r.arg("--reason={{ incident.evidence }}")).toBe(`--reason=${evil}`);
  });
  it.each(["--help", "-rf", "-"])("refuses an external value that would start with %j (an option)", (evil) => {
    const e = templateError(() => renderer(evil).arg("{{ incident.evidence }}"));
    expect(e.code).toBe("TEMPLATE_UNSAFE_VALUE");
    expect(e.message).toContain("incident.evidence");
    // Behind a fixed prefix it is a value, not an option.
    expect(renderer(evil).arg("--reason={{ incident.evidence }}")).toBe(`--reason=${evil}`);
  });
  it("looks through empty values for the first character", () => {
    const vars = { ...buildTemplateVars(target, incident("-x")), "target.labels.empty": { value: "", trusted: true } };
    expect(templateError(() => createRenderer(vars).arg("{{ target.labels.empty }}{{ incident.evidence }}")).code).toBe(
      "TEMPLATE_UNSAFE_VALUE",
    );
  });
  it("allows the operator's own leading dash", () => {
    expect(renderer().arg("{{ target.labels.dash }}")).toBe("-v");
  });
  it.each(["x\ny", "x\0y", "x\r"])("refuses line breaks and NUL from outside (%j)", (evil) => {
    expect(templateError(() => renderer(evil).arg("r={{ incident.evidence }}")).code).toBe("TEMPLATE_UNSAFE_VALUE");
  });
});

describe("json", () => {
  it("fills string leaves only and keeps the structure", () => {
    const evil = '", "admin": true, "x": "\n{{ target.name }}';
    const body = {
      text: "{{ incident.id }}: {{ incident.evidence }}",
      "{{ target.name }}": 1,
      list: ["{{ target.name }}", 2, null, false],
      nested: { n: 3 },
    };
    const out = renderer(evil).json(body);
    expect(out).toEqual({
      text: `inc-42: ${evil}`,
      "{{ target.name }}": 1,
      list: ["orders-api", 2, null, false],
      nested: { n: 3 },
    });
    const parsed = JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(["text", "{{ target.name }}", "list", "nested"]);
    expect(parsed.admin).toBeUndefined();
  });
  it("reports a missing variable in a leaf", () => {
    expect(templateError(() => renderer().json({ a: ["{{ target.labels.nope }}"] })).code).toBe("TEMPLATE_UNKNOWN_VARIABLE");
  });
  it("makes a leaf that is one trusted number template a JSON number, never an external one", () => {
    const numbered = createRenderer(buildTemplateVars({ ...target, labels: { ceiling: "40" } }, incident("7")));
    expect(
      numbered.json({
        max_size: "{{ target.labels.ceiling }}",
        note: "up to {{ target.labels.ceiling }}",
        from: "{{ incident.evidence }}",
      }),
    ).toEqual({ max_size: 40, note: "up to 40", from: "7" });
  });
  it("keeps ids, names and numbers not in their plain form strings, even when they are all digits", () => {
    const digits = createRenderer(
      buildTemplateVars(
        { ...target, name: "2024", labels: { zone: "007", ratio: "1.50" } },
        { ...incident("x"), id: "27507124", target: "2024" },
      ),
    );
    expect(
      digits.json({
        id: "{{ incident.id }}",
        name: "{{ target.name }}",
        of: "{{ incident.target }}",
        zone: "{{ target.labels.zone }}",
        ratio: "{{ target.labels.ratio }}",
      }),
    ).toEqual({ id: "27507124", name: "2024", of: "2024", zone: "007", ratio: "1.50" });
  });
});
