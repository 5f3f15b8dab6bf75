import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseJournal } from "../src/incidents/journal-read.js";
import type { JournalRecord } from "../src/incidents/types.js";
import { parseShow } from "../src/lib/systemctl.js";
import { catJournal, ROOT } from "./harness.js";

// The shipped unit and polkit rule in a real systemd: Debian bookworm (medic-test/bookworm, built by
// scripts/setup.sh) booted in a container, with the host's node and this checkout's build bind-mounted
// read-only. The README's "Run under systemd" commands run in it as written. medic runs as the user
// medic and acts on demo units through systemctl, allowed only by the polkit rule.

const IMAGE = "medic-test/bookworm:latest";
const NAME = `medic-test-systemd-${process.pid}`;
const FIXTURE = join(ROOT, "test/fixtures/systemd-demo.mjs");
// Fast rounds for the test; the README's config block is used as written, after these.
const TEST_DEFAULTS = "defaults: { interval: 500ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }\n";

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `docker args…` with `input` on stdin; never rejects. */
function docker(args: string[], input = "", timeoutMs = 60_000): Promise<Out> {
  return new Promise((resolve) => {
    const child = spawn("docker", args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => resolve({ code: null, stdout, stderr: `${stderr}${err.message}` }));
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** A shell script (set -eu) run as root in the container; output and exit code. */
const sh = (script: string): Promise<Out> => docker(["exec", "-i", "-w", "/opt/medic", NAME, "sh", "-eu"], script);

/** Like sh, but a failure throws with everything the script said. */
async function ok(script: string): Promise<string> {
  const out = await sh(script);
  if (out.code !== 0)
    throw new Error(`in the container, exit ${out.code}:\n${script}\n--- stdout\n${out.stdout}\n--- stderr\n${out.stderr}`);
  return out.stdout;
}

const show = async (unit: string, props: string[]): Promise<Record<string, string>> =>
  parseShow(await ok(`systemctl show ${props.map((p) => `-p ${p}`).join(" ")} ${unit}`));

/** Polls `fn` every 250 ms until it returns something truthy; throws naming `what` at the deadline. */
async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function journal(): Promise<JournalRecord[]> {
  return parseJournal(await ok(catJournal("/var/lib/medic"))).records;
}

/** The incidents of `target` and `kind`, each with its records in order. */
async function incidents(target: string, kind: string): Promise<JournalRecord[][]> {
  const records = await journal();
  const ids = records.filter((r) => r.type === "opened" && r.target === target && r.kind === kind).map((r) => r.incident);
  return ids.map((id) => records.filter((r) => r.incident === id));
}

/** The resolved incidents of `target` and `kind`; undefined while there is none. */
async function resolvedOf(target: string, kind: string): Promise<JournalRecord[][] | undefined> {
  const done = (await incidents(target, kind)).filter((rs) => rs.some((r) => r.type === "resolved"));
  return done.length > 0 ? done : undefined;
}

const stepDetails = (records: JournalRecord[]): string[] =>
  records.flatMap((r) => (r.type === "step_finished" ? [`${r.outcome}: ${r.detail}`] : []));

/** The shell and YAML blocks of the README's "Run under systemd" section, found by what they do. */
function readmeBlocks(): { sh: (has: string) => string; yaml: (has: string) => string } {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("\n## Run under systemd\n");
  if (start < 0) throw new Error('README.md has no "## Run under systemd" section');
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks = (lang: string) => [...section.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);
  const pick = (lang: string) => (has: string) => {
    const found = blocks(lang).find((b) => b.includes(has));
    if (!found) throw new Error(`README "Run under systemd" has no ${lang} block with ${JSON.stringify(has)}`);
    return found;
  };
  return { sh: pick("sh"), yaml: pick("yaml") };
}

/** A demo unit: the fixture server on `port`; never restarted by systemd itself. */
function demoUnit(port: number, extra: string[] = []): string {
  return [
    "[Unit]",
    "Description=medic test demo",
    "[Service]",
    `ExecStart=/usr/bin/node /opt/medic-test/systemd-demo.mjs ${port} /run/orders-api.load`,
    "Restart=no",
    ...extra,
    "",
  ].join("\n");
}

const readme = readmeBlocks();
/** Set once medic runs under systemd: the tests after the first need it, and fail at once without it. */
let started = false;
const needsMedic = (): void => {
  if (!started) throw new Error("medic did not start under systemd: see the first test");
};

beforeAll(async () => {
  const engine = await docker(["version", "--format", "{{.Server.Version}}"]);
  if (engine.code !== 0) throw new Error(`no Docker engine answers (${engine.stderr.trim()}): run bash scripts/setup.sh as root`);
  const image = await docker(["image", "inspect", IMAGE]);
  if (image.code !== 0) throw new Error(`the image ${IMAGE} is missing: run bash scripts/setup.sh as root (it builds it with debootstrap)`);
  const ro = (from: string, to: string) => ["-v", `${from}:${to}:ro`];
  const run = await docker([
    "run",
    "-d",
    "--name",
    NAME,
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
    ...ro("/sys/fs/cgroup", "/sys/fs/cgroup"),
    "-e",
    "container=docker",
    ...ro("/usr/bin/node", "/usr/bin/node"),
    ...["dist", "node_modules", "package.json", "playbooks", "systemd"].flatMap((p) => ro(join(ROOT, p), `/opt/medic/${p}`)),
    ...ro(FIXTURE, "/opt/medic-test/systemd-demo.mjs"),
    IMAGE,
    "/lib/systemd/systemd",
  ]);
  if (run.code !== 0) throw new Error(`docker run ${IMAGE} failed: ${run.stderr.trim()}`);
  await until("systemd in the container to finish booting", 30_000, async () =>
    /^(running|degraded)$/m.test((await sh("systemctl is-system-running || true")).stdout),
  );
}, 60_000);

afterAll(async () => {
  await docker(["rm", "-f", "-v", NAME]);
  const left = await docker(["ps", "-a", "-q", "--filter", `name=^${NAME}$`]);
  expect(left.stdout.trim()).toBe("");
}, 30_000);

describe("medic under a real systemd", { timeout: 60_000 }, () => {
  it("installs as the README says, and runs as the user medic, ready through sd_notify", async () => {
    // What `npm install -g` would leave: the package under /usr/local/lib and a medic on the PATH.
    await ok(`mkdir -p /usr/local/lib/node_modules
ln -s /opt/medic /usr/local/lib/node_modules/medic
printf '#!/bin/sh\\nexec /usr/bin/node /opt/medic/dist/cli/main.js "$@"\\n' > /usr/local/bin/medic
chmod 755 /usr/local/bin/medic`);
    await ok(readme.sh("useradd"));
    await ok(`cat > /etc/systemd/system/orders-api.service <<'EOF'
${demoUnit(8000, ["Environment=POOL_MAX_SIZE=20", "MemoryMax=256M"])}EOF
cat > /etc/systemd/system/orders-worker.service <<'EOF'
${demoUnit(8001)}EOF
cat > /etc/medic/medic.yaml <<'EOF'
${TEST_DEFAULTS}${readme.yaml("service: { systemd:")}EOF
cat > /etc/medic/playbooks/grow-orders-api.yaml <<'EOF'
${readme.yaml("systemd.set-env")}EOF
# A short watchdog, so the test sees it act within seconds; a start without READY=1 fails in 20 s.
mkdir -p /etc/systemd/system/medic.service.d
printf '[Service]\\nWatchdogSec=3s\\nRestartSec=1s\\nTimeoutStartSec=20s\\n' > /etc/systemd/system/medic.service.d/test.conf
systemctl daemon-reload
systemctl start orders-api.service orders-worker.service`);
    const enabled = await sh(readme.sh("enable --now medic"));
    if (enabled.code !== 0) {
      const log = (await sh("journalctl -u medic -o cat --no-pager | tail -n 30")).stdout;
      throw new Error(
        `systemctl enable --now medic failed (a Type=notify unit is started only when medic sends READY=1):\n${enabled.stdout}${enabled.stderr}\n--- journalctl -u medic\n${log}`,
      );
    }
    started = true;

    const medic = await show("medic", ["Type", "NotifyAccess", "User", "ActiveState", "MainPID", "WatchdogUSec", "NRestarts"]);
    // Type=notify: `systemctl start` (in enable --now) returned with medic active, so READY=1 arrived.
    expect(medic).toMatchObject({
      Type: "notify",
      NotifyAccess: "all",
      User: "medic",
      ActiveState: "active",
      WatchdogUSec: "3s",
      NRestarts: "0",
    });
    const uid = (await ok("id -u medic")).trim();
    expect(await ok(`grep ^Uid: /proc/${medic.MainPID}/status`)).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s`));
    expect((await ok(`cat /proc/${medic.MainPID}/comm`)).trim()).toBe("node");
    // The hardening this container lets systemd apply: no new privileges, no capabilities, a seccomp
    // filter. Without CAP_SYS_ADMIN it skips the mount namespaces (ProtectSystem=, PrivateTmp=, ...).
    const hardened = parseShow(
      (await ok(`grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd):' /proc/${medic.MainPID}/status`)).replace(/:\s+/g, "="),
    );
    expect(hardened).toEqual({ NoNewPrivs: "1", Seccomp: "2", CapEff: "0000000000000000", CapBnd: "0000000000000000" });
    expect(await ok("stat -c '%U %a' /var/lib/medic")).toBe("medic 750\n");
    await ok("systemd-analyze verify /etc/systemd/system/medic.service");
    const exposure = /Overall exposure level for medic\.service: (\d+\.\d)/.exec(await ok("systemd-analyze security medic --no-pager"));
    expect(Number(exposure?.[1])).toBeLessThan(3);
  });

  it("restarts a killed unit with systemctl as medic, allowed by the polkit rule for listed units only", async () => {
    needsMedic();
    const before = await show("orders-api.service", ["MainPID", "ActiveEnterTimestampMonotonic"]);
    await ok("systemctl kill -s KILL orders-api.service");
    const [run] = await until("medic to restart orders-api.service and verify it", 30_000, () => resolvedOf("orders-api", "server_down"));
    const after = await show("orders-api.service", ["ActiveState", "MainPID", "NRestarts", "Restart", "ActiveEnterTimestampMonotonic"]);
    // Restart=no and no automatic restarts: systemd did not bring it back, medic did.
    expect(after).toMatchObject({ ActiveState: "active", Restart: "no", NRestarts: "0" });
    expect(after.MainPID).not.toBe(before.MainPID);
    expect(Number(after.ActiveEnterTimestampMonotonic)).toBeGreaterThan(Number(before.ActiveEnterTimestampMonotonic));
    expect(stepDetails(run!)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^ok: restarted orders-api\\.service \\(was failed \\(signal\\), now active \\(running\\), main pid ${after.MainPID}\\) in `,
        ),
      ),
    ]);

    // The rule lists orders-api.service only, and no verb but start, stop, restart and set-property.
    const other = await sh("runuser -u medic -- systemctl --no-ask-password restart orders-worker.service");
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/Interactive authentication required/);
    const kill = await sh("runuser -u medic -- systemctl --no-ask-password kill orders-api.service");
    expect(kill.stderr).toMatch(/Interactive authentication required/);
    expect((await show("orders-api.service", ["MainPID"])).MainPID).toBe(after.MainPID);
  });

  it("grows orders-api with the README's playbook: MemoryMax at runtime, POOL_MAX_SIZE by drop-in, bounded and revertible", async () => {
    needsMedic();
    await ok(readme.sh("ReadWritePaths="));
    await until("medic to be active again", 20_000, async () => (await show("medic", ["ActiveState"])).ActiveState === "active");
    expect(await ok("stat -c '%U' /etc/systemd/system/orders-api.service.d")).toBe("medic\n");

    // medic plan: the exact argv and the current values, read-only.
    const plan = await ok("runuser -u medic -- medic plan --target orders-api --incident pool_exhaustion");
    expect(plan).toContain(
      'would run argv ["systemctl","--no-ask-password","set-property","--","orders-api.service","MemoryMax=536870912"]',
    );
    expect(plan).toContain("MemoryMax 256MiB -> 512MiB (ceiling 1GiB) (now MemoryMax=268435456)");
    expect(plan).toContain(
      "would write /etc/systemd/system/orders-api.service.d/50-medic-POOL_MAX_SIZE.conf: Environment=POOL_MAX_SIZE=40",
    );
    expect(plan).toContain('would run argv ["systemctl","--no-ask-password","daemon-reload"]');
    expect((await show("orders-api.service", ["MemoryMax"])).MemoryMax).toBe("268435456");

    // 30 connections in use of a pool of 20: exhausted, until the pool is 40.
    await ok("echo 30 > /run/orders-api.load");
    const [run] = await until("medic to grow orders-api and verify it", 30_000, () => resolvedOf("orders-api", "pool_exhaustion"));
    const [property, env] = stepDetails(run!);
    expect(property).toMatch(
      /^ok: orders-api\.service: MemoryMax 256MiB -> 512MiB \(ceiling 1GiB\); to revert: systemctl set-property orders-api\.service MemoryMax=268435456$/,
    );
    expect(env).toMatch(
      /^ok: orders-api\.service: POOL_MAX_SIZE 20 -> 40 \(ceiling 80\) in \/etc\/systemd\/system\/orders-api\.service\.d\/50-medic-POOL_MAX_SIZE\.conf; daemon-reload; restarted orders-api\.service .*; to revert: POOL_MAX_SIZE=20 in /,
    );

    const after = await show("orders-api.service", ["MemoryMax", "Environment", "MainPID", "NRestarts"]);
    expect(after).toMatchObject({ MemoryMax: "536870912", NRestarts: "0" });
    expect(after.Environment).toBe("POOL_MAX_SIZE=40");
    // The restarted process has the new value, and serves a pool of 40.
    expect(await ok(`tr '\\0' '\\n' < /proc/${after.MainPID}/environ`)).toMatch(/^POOL_MAX_SIZE=40$/m);
    expect(await ok("cat /etc/systemd/system/orders-api.service.d/50-medic-POOL_MAX_SIZE.conf")).toMatch(
      /Before: POOL_MAX_SIZE=20\.[\s\S]*\[Service\]\nEnvironment=POOL_MAX_SIZE=40\n$/,
    );

    // At the ceiling, medic would not raise it: it says so instead.
    await ok("systemctl set-property orders-api.service MemoryMax=1G");
    expect(await ok("runuser -u medic -- medic plan --target orders-api --incident pool_exhaustion")).toContain(
      "would not change it: MemoryMax: already 1GiB, at or past its ceiling 1GiB: not raising it",
    );

    // The recorded revert command puts the old value back, and medic's user may run it.
    const revert = /to revert: (systemctl set-property \S+ \S+)$/.exec(property!)![1]!;
    await ok(`runuser -u medic -- ${revert}`);
    expect((await show("orders-api.service", ["MemoryMax"])).MemoryMax).toBe("268435456");
    await ok("rm /run/orders-api.load");
  });

  it("applies a changed config on systemctl reload, without a restart", async () => {
    needsMedic();
    const before = await show("medic", ["MainPID"]);
    await ok(`sed -i 's/var units = .*/var units = ["orders-api.service", "orders-worker.service"];/' /etc/polkit-1/rules.d/50-medic.rules
cat >> /etc/medic/medic.yaml <<'EOF'
  - name: orders-worker
    probe: { http: { url: "http://127.0.0.1:8001/health" } }
    service: { systemd: { unit: orders-worker.service } }
EOF`);
    await ok(readme.sh("systemctl reload medic"));
    await until("medic to log the reload", 15_000, async () =>
      (await ok("journalctl -u medic -o cat --no-pager")).includes('"added":["orders-worker"]'),
    );
    expect(await show("medic", ["MainPID", "ActiveState", "NRestarts"])).toEqual({ ...before, ActiveState: "active", NRestarts: "0" });

    const worker = await show("orders-worker.service", ["MainPID"]);
    await ok("systemctl kill -s KILL orders-worker.service");
    await until("medic to restart orders-worker.service", 30_000, () => resolvedOf("orders-worker", "server_down"));
    const after = await show("orders-worker.service", ["ActiveState", "MainPID", "NRestarts"]);
    expect(after).toMatchObject({ ActiveState: "active", NRestarts: "0" });
    expect(after.MainPID).not.toBe(worker.MainPID);
  });

  it("is killed and started again by the watchdog when it stops answering, and stops cleanly", async () => {
    needsMedic();
    // WatchdogSec=3s all along: medic's pings kept it alive through every test above.
    const before = await show("medic", ["MainPID", "NRestarts"]);
    expect(before.NRestarts).toBe("0");
    await ok(`kill -STOP ${before.MainPID}`);
    await until("systemd to restart medic", 30_000, async () => {
      const now = await show("medic", ["NRestarts", "ActiveState", "MainPID"]);
      return now.NRestarts === "1" && now.ActiveState === "active" && now.MainPID !== before.MainPID;
    });
    expect(await ok("journalctl -u medic -o cat --no-pager")).toContain("medic.service: Failed with result 'watchdog'.");
    expect((await sh(`test -d /proc/${before.MainPID}`)).code).not.toBe(0);

    await ok("systemctl stop medic");
    expect(await show("medic", ["ActiveState", "Result"])).toEqual({ ActiveState: "inactive", Result: "success" });
  });
});
