import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/load.js";
import { cases, rng, SEED, within } from "./chaos-common.js";
import { cleanup, medic, ROOT, SHIPPED_PLAYBOOKS, tempDir } from "./harness.js";

afterAll(cleanup);

const ENV = {
  ORDERS_DB_PASSWORD: "pw",
  SLACK_WEBHOOK_URL: "http://127.0.0.1:9/hook",
  PAGERDUTY_ROUTING_KEY: "0123456789abcdef0123456789abcdef",
};

/** Two config dirs (the README's config and the validate fixture), each with every shipped playbook beside its own. */
function bases(): string[] {
  return [join(ROOT, "test/fixtures/chaos-config"), join(ROOT, "test/fixtures/config-good")].map((from) => {
    const dir = tempDir("medic-chaos-config-");
    mkdirSync(join(dir, "playbooks"));
    copyFileSync(join(from, "medic.yaml"), join(dir, "medic.yaml"));
    for (const f of readdirSync(SHIPPED_PLAYBOOKS)) copyFileSync(join(SHIPPED_PLAYBOOKS, f), join(dir, "playbooks", f));
    for (const f of (() => {
      try {
        return readdirSync(join(from, "playbooks"));
      } catch {
        return [];
      }
    })())
      copyFileSync(join(from, "playbooks", f), join(dir, "playbooks", f));
    return dir;
  });
}

const TOKENS = [
  ":",
  ": ",
  "-",
  "- ",
  "{",
  "}",
  "[",
  "]",
  ",",
  "'",
  '"',
  "&a ",
  "*a",
  "*nope",
  "<<: *a",
  "!!binary ",
  "!!js/function ",
  "!tag ",
  "#",
  "%YAML 1.1\n",
  "---\n",
  "...\n",
  "|",
  ">-",
  "\t",
  "\n",
  "\r",
  "\0",
  "\\",
  "${",
  "${NOPE}",
  "${file:/nonexistent}",
  "$${",
  "{{",
  "}}",
  "{{ target.name }}",
  "?",
  "@",
  "`",
  "\u2028",
  "\ufeff",
  "é",
  "💥",
  "\ud800",
];
const VALUES = [
  "",
  "-1",
  "0",
  "1e400",
  "-1e400",
  ".nan",
  ".inf",
  "99999999999999999999999",
  "0x10",
  "0o777",
  "1_000",
  "-0",
  "2147483648",
  "1s",
  "0s",
  "-5s",
  "1000000h",
  "1.5ms",
  "null",
  "~",
  "true",
  "[]",
  "{}",
  "[[[[]]]]",
  '"${NOPE}"',
  '"${file:/nonexistent}"',
  '"${file:../../../../etc/hostname}"',
  '"$${x}"',
  "'x'",
  `"${"a".repeat(10_000)}"`,
  '"\\u0000"',
  "*a",
  "&a [1]",
  "!!binary AAAA",
  "!!js/function 'x'",
  "|",
  ">-",
  '"../../../etc/passwd"',
  '"$(reboot)"',
  '"; rm -rf /"',
  "P0",
  "P1",
  "[pagerduty, slack, nope]",
  "2001-01-01",
  "{ a: 1, a: 2 }",
  '"http://[::1"',
  '"ftp://x"',
  '"http://127.0.0.1:99999/"',
  "[/bin/sh, -c, 'x; y']",
  '"*"',
  '"**/*"',
  '"[BODY].x >"',
  '"[BODY]...."',
  '"0 99 * * *"',
  "Mars/Olympus",
  "512XiB",
];

type Rng = ReturnType<typeof rng>;
// One random edit of YAML text: the kinds of slips people make, and some they should not.
function mutate(text: string, r: Rng): string {
  const lines = text.split("\n");
  const li = r.int(lines.length);
  const at = r.int(text.length + 1);
  switch (r.int(10)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1 + r.int(3));
    case 1:
      return text.slice(0, at) + r.pick(TOKENS) + text.slice(at);
    case 2:
      lines.splice(li, 1);
      return lines.join("\n");
    case 3:
      lines.splice(li, 0, lines[li] ?? "");
      return lines.join("\n");
    case 4:
      if (li + 1 < lines.length) [lines[li], lines[li + 1]] = [lines[li + 1]!, lines[li]!];
      return lines.join("\n");
    case 5:
      lines[li] = r.pick(["", " ", "  ", "\t", "   "]) + (r.int(2) ? lines[li]!.trimStart() : lines[li]);
      return lines.join("\n");
    case 6: {
      // A value replaced: everything after the first `: ` (or `- `) of a line.
      const m = /^(\s*(?:- )?[^:#]*:\s)|^(\s*- )/.exec(lines[li]!);
      lines[li] = m ? m[0] + r.pick(VALUES) : lines[li] + " " + r.pick(VALUES);
      return lines.join("\n");
    }
    case 7:
      return text.slice(0, at);
    case 8: {
      // A key misspelt: one letter of the first word changed.
      const m = /^(\s*(?:- )?)([A-Za-z]+)/.exec(lines[li]!);
      if (!m) return text;
      const k = m[2]!;
      const i = r.int(k.length);
      lines[li] = m[1] + k.slice(0, i) + String.fromCharCode(97 + r.int(26)) + k.slice(i + 1) + lines[li]!.slice(m[0].length);
      return lines.join("\n");
    }
    default:
      return text + r.pick(["\n\xff\xfe", "\nextra: 1", "\n- x", "\n  nested: [", "\ntargets: []", "\n" + "x".repeat(100_000), "\u0000"]);
  }
}

// What every answer must look like: a config, or issues that each name a file, a line and a column.
function checkResult(res: Awaited<ReturnType<typeof loadConfig>>, label: string): void {
  if (res.ok) {
    for (const t of res.config.targets) {
      expect(Number.isFinite(t.intervalMs) && t.intervalMs > 0, `${label}: interval of ${t.name}`).toBe(true);
      expect(Number.isFinite(t.timeoutMs) && t.timeoutMs > 0, `${label}: timeout of ${t.name}`).toBe(true);
    }
    return;
  }
  const errors = res.issues.filter((i) => i.level === "error");
  expect(errors.length, `${label}: rejected without an error`).toBeGreaterThan(0);
  for (const i of res.issues) {
    expect(i.file, label).toMatch(/\.ya?ml$|medic\.yaml|playbooks/);
    expect(Number.isInteger(i.line) && i.line >= 1 && Number.isInteger(i.col) && i.col >= 1, `${label}: ${JSON.stringify(i)}`).toBe(true);
    expect(typeof i.message === "string" && i.message.length > 0, label).toBe(true);
    expect(i.message, label).not.toMatch(/\n\s+at /);
  }
}

describe("chaos: mutated configs and playbooks", () => {
  it(
    `every mutation is valid or rejected with file:line:col issues, in-process (seed ${SEED})`,
    async () => {
      const n = cases(400, 20_000);
      const r = rng(SEED);
      const dirs = bases();
      const originals = dirs.map((d) =>
        [join(d, "medic.yaml"), ...readdirSync(join(d, "playbooks")).map((f) => join(d, "playbooks", f))].map(
          (f) => [f, readFileSync(f, "utf8")] as const,
        ),
      );
      let rejected = 0;
      for (let c = 0; c < n; c++) {
        const b = r.int(dirs.length);
        // Half the cases hit the config, half one playbook; 1-3 edits each.
        const files = originals[b]!;
        const [file, text] = r.int(2) ? files[0]! : files[1 + r.int(files.length - 1)]!;
        let mutated = text;
        for (let k = 1 + r.int(3); k > 0; k--) mutated = mutate(mutated, r);
        writeFileSync(file, mutated);
        const label = `seed ${SEED} case ${c} (${file})`;
        const res = await within(loadConfig(join(dirs[b]!, "medic.yaml"), { env: ENV }), 10_000, label).catch((err: unknown) => {
          throw new Error(
            `${label}: loadConfig threw: ${err instanceof Error ? err.stack : String(err)}\n--- file ---\n${mutated.slice(0, 2000)}`,
          );
        });
        checkResult(res, label);
        if (!res.ok) rejected++;
        writeFileSync(file, text);
      }
      // The mutations are not all harmless no-ops: most break something.
      expect(rejected).toBeGreaterThan(n / 3);
    },
    cases(120_000, 3_600_000),
  );

  it(
    `through the CLI, \`medic validate\` exits 0 or 2 with file:line:col and never a stack trace (seed ${SEED})`,
    async () => {
      const n = cases(16, 300);
      const r = rng(SEED ^ 0x5eed);
      const todo = Array.from({ length: n }, (_x, c) => c);
      const codes = { 0: 0, 2: 0 };
      // Its own copy per worker: the cases run four at a time.
      const worker = async () => {
        const dir = bases()[r.int(2)]!;
        const files = [join(dir, "medic.yaml"), ...readdirSync(join(dir, "playbooks")).map((f) => join(dir, "playbooks", f))];
        for (let c = todo.shift(); c !== undefined; c = todo.shift()) {
          const file = r.int(2) ? files[0]! : r.pick(files.slice(1));
          const text = readFileSync(file, "utf8");
          let mutated = text;
          for (let k = 1 + r.int(3); k > 0; k--) mutated = mutate(mutated, r);
          writeFileSync(file, mutated);
          const res = await within(medic(["validate", "--config", join(dir, "medic.yaml")], ENV), 30_000, `case ${c}`);
          const out = res.stdout + res.stderr;
          const label = `seed ${SEED} cli case ${c} (${file}): ${out.slice(0, 1500)}\n--- file ---\n${mutated.slice(0, 1500)}`;
          expect([0, 2], label).toContain(res.code);
          expect(out, label).not.toMatch(/\n\s+at .*\(?(node:|file:|\/)/);
          expect(out, label).not.toMatch(/TypeError|RangeError|ReferenceError|SyntaxError: (?!.*YAML)/);
          if (res.code === 2) expect(out, label).toMatch(/\.yaml:\d+:\d+ /);
          codes[res.code as 0 | 2]++;
          writeFileSync(file, text);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      expect(codes[0] + codes[2]).toBe(n);
    },
    cases(120_000, 1_800_000),
  );

  it("refuses YAML bombs (billion laughs) in the config and in a playbook, quickly and with exit 2", async () => {
    const dir = bases()[0]!;
    const laughs = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++)
      laughs.push(
        `a${i}: &a${i} [${Array(9)
          .fill(`*a${i - 1}`)
          .join(",")}]`,
      );
    const config = readFileSync(join(dir, "medic.yaml"), "utf8");
    writeFileSync(join(dir, "medic.yaml"), `${laughs.join("\n")}\n${config}`);
    const t0 = Date.now();
    const res = await within(loadConfig(join(dir, "medic.yaml"), { env: ENV }), 10_000, "config bomb");
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.issues.map((i) => i.message).join("\n")).toMatch(/alias/i);
    const cli = await within(medic(["validate", "--config", join(dir, "medic.yaml")], ENV), 30_000, "cli bomb");
    expect(cli.code).toBe(2);
    expect(cli.stdout + cli.stderr).toMatch(/medic\.yaml:1:1 YAML: Excessive alias count/);

    writeFileSync(join(dir, "medic.yaml"), config);
    const pb = join(dir, "playbooks/server-down.yaml");
    writeFileSync(pb, `${laughs.join("\n")}\n${readFileSync(pb, "utf8")}`);
    const res2 = await within(loadConfig(join(dir, "medic.yaml"), { env: ENV }), 10_000, "playbook bomb");
    expect(res2.ok).toBe(false);
    if (!res2.ok) expect(res2.issues.find((i) => i.file.endsWith("server-down.yaml"))?.message).toMatch(/alias/i);
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);

  it("rejects 100,000-deep nesting and a 5 MB scalar with an issue, not a crash", async () => {
    const dir = bases()[0]!;
    const n = 100_000;
    for (const body of [
      "targets: " + "[".repeat(n) + "]".repeat(n),
      "targets: " + "{a: ".repeat(20_000) + "1" + "}".repeat(20_000),
      `targets:\n  - name: ${"x".repeat(5_000_000)}\n    probe: { tcp: { port: 1 } }`,
    ]) {
      writeFileSync(join(dir, "medic.yaml"), `stateDir: ./s\nplaybooks: []\n${body}\n`);
      const cli = await within(medic(["validate", "--config", join(dir, "medic.yaml")]), 30_000, "deep");
      expect(cli.code).toBe(2);
      expect(cli.stdout + cli.stderr).toMatch(/medic\.yaml:[34]:\d+ /);
      expect((cli.stdout + cli.stderr).length).toBeLessThan(10_000);
    }
  }, 120_000);
});
