import { afterEach, describe, expect, it } from "vitest";
import { isScalar } from "yaml";
import { positionIn, removeTrees, writeTree } from "../../test/fixtures/config-tmp.js";
import { formatPath, nodeAt, parseYaml, positionOf, readYaml, scalarOffset, toData, type YamlSource } from "./locate.js";

const TEXT = [
  "defaults:",
  "  interval:",
  "targets:",
  "  - name: api",
  "    probe: { http: { url: localhost } }",
  "    dependsOn: &deps [db]",
  "  - name: db",
  "    dependsOn: *deps",
  "",
].join("\n");

function parse(text: string): YamlSource {
  const { source, issues } = parseYaml("/x/medic.yaml", text);
  expect(issues).toEqual([]);
  return source!;
}

describe("positionOf", () => {
  const source = parse(TEXT);

  it("points at a value, a key, or the mapping that lacks a key", () => {
    expect(positionOf(source, ["targets", 0, "probe", "http", "url"])).toEqual(positionIn(TEXT, "localhost"));
    expect(positionOf(source, ["targets", 0, "probe"], "key")).toEqual(positionIn(TEXT, "probe"));
    expect(positionOf(source, ["targets", 1, "probe"], "parent")).toEqual(positionIn(TEXT, "name: db"));
  });

  it("points at the key of an empty value, and at the deepest existing node of a missing path", () => {
    expect(positionOf(source, ["defaults", "interval"])).toEqual(positionIn(TEXT, "interval"));
    expect(positionOf(source, ["targets", 0, "probe", "http", "nope", "deeper"])).toEqual(positionIn(TEXT, "{ url"));
  });

  it("follows aliases", () => {
    expect(positionOf(source, ["targets", 1, "dependsOn", 0])).toEqual(positionIn(TEXT, "db]"));
  });

  it("is 1:1 for an empty document", () => {
    expect(positionOf(parse(""), ["targets"])).toEqual({ line: 1, col: 1 });
  });
});

describe("scalarOffset", () => {
  const cases: [string, string, string][] = [
    ["plain", "k: a > b >> c\n", ">>"],
    ["double-quoted with escapes", 'k: "t\\u00e9st \\"q\\" >> c"\n', ">>"],
    ["single-quoted with doubled quotes", "k: 'it''s >> c'\n", ">>"],
    ["block literal", "k: |\n  first line\n  x >> c\n", ">>"],
    ["folded plain over two lines", "k: first\n   second >> c\n", ">>"],
  ];
  it.each(cases)("maps a value offset to the source in a %s scalar", (_name, text, token) => {
    const source = parse(text);
    const node = nodeAt(source, ["k"]).node;
    if (!isScalar(node)) throw new Error("not a scalar");
    const offset = String(node.value).indexOf(token);
    expect(source.lines.linePos(scalarOffset(text, node, offset))).toEqual(positionIn(text, token));
  });
});

describe("parseYaml / readYaml", () => {
  afterEach(removeTrees);

  it("reports syntax errors at their own position, with a hint, and no source", () => {
    const text = "a: 1\nb: [1, 2\nc: 3\n";
    const { source, issues } = parseYaml("/x/bad.yaml", text);
    expect(source).toBeUndefined();
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]).toMatchObject({ file: "/x/bad.yaml", level: "error", line: 3, col: 1 });
    expect(issues[0]!.message).toMatch(/^YAML: /);
  });

  it("reports duplicate keys at the second one", () => {
    const text = "a: 1\na: 2\n";
    const { issues } = parseYaml("/x/dup.yaml", text);
    expect(issues).toMatchObject([{ line: 2, col: 1, hint: expect.stringContaining("rename") }]);
  });

  it("turns a missing file into one issue at 1:1 with the given hint", async () => {
    const dir = await writeTree({});
    const { source, issues } = await readYaml(`${dir}/nope.yaml`, "create it");
    expect(source).toBeUndefined();
    expect(issues).toEqual([
      { file: `${dir}/nope.yaml`, line: 1, col: 1, path: "", message: "file not found", hint: "create it", level: "error" },
    ]);
  });
});

describe("toData", () => {
  it("turns an alias bomb into an issue instead of a throw", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++)
      lines.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    const { data, issues } = toData(parse(lines.join("\n")));
    expect(data).toBeUndefined();
    expect(issues).toMatchObject([{ line: 1, col: 1, level: "error", message: expect.stringMatching(/^YAML: .*alias/i) }]);
  });
});

/** toData's result, and the Node warnings it emitted (Node emits them a tick later, so listen past it). */
async function toDataWatchingWarnings(text: string): Promise<ReturnType<typeof toData> & { warnings: Error[] }> {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  try {
    const result = toData(parse(text));
    await new Promise((resolve) => setImmediate(resolve));
    return { ...result, warnings };
  } finally {
    process.off("warning", onWarning);
  }
}

describe("toData: keys that are lists or mappings", () => {
  it("reports each at its own position, leaves it out of the data, and prints no Node warning", async () => {
    const { data, issues, warnings } = await toDataWatchingWarnings(
      "a:\n  ? [x, y]\n  : 1\n  b: 2\n  ? {k: v}\n  : 3\nc: &l [1]\nd: { *l : 4 }\n",
    );
    expect(data).toEqual({ a: { b: 2 }, c: [1], d: {} });
    expect(issues).toMatchObject([
      { line: 2, col: 5, path: "a", level: "error", message: 'a key must be a word or a quoted string, not a list ("[x, y]")' },
      { line: 5, col: 5, path: "a", level: "error", message: expect.stringContaining("not a mapping") },
      { line: 8, col: 6, path: "d", level: "error", message: expect.stringContaining('("*l")') },
    ]);
    expect(issues[0]!.hint).toMatch(/quote/);
    expect(warnings).toEqual([]);
  });

  it("also catches a tagged scalar that is an object (YAML 1.1 binary), which the library would stringify", async () => {
    const { data, issues, warnings } = await toDataWatchingWarnings("%YAML 1.1\n---\na:\n  ? !!binary aGk=\n  : 1\n  b: 2\n");
    expect(data).toEqual({ a: { b: 2 } });
    expect(issues).toMatchObject([
      { line: 4, col: 14, path: "a", message: 'a key must be a word or a quoted string, not a tagged value ("aGk=")' },
    ]);
    expect(warnings).toEqual([]);
  });
});

describe("formatPath", () => {
  it("joins keys with dots, indexes with brackets, and quotes odd keys", () => {
    expect(formatPath(["targets", 2, "probe", "http", "url"])).toBe("targets[2].probe.http.url");
    expect(formatPath(["steps", 0, "service.restart"])).toBe("steps[0].service.restart");
    expect(formatPath(["labels", "a b"])).toBe('labels["a b"]');
    expect(formatPath([])).toBe("");
  });
});
