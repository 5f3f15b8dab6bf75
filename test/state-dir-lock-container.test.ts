import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseOwner } from "../src/lib/lock-owner.js";
import { LOCK_FILE } from "../src/lib/lockfile.js";
import { cleanup, onCleanup, ROOT, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

/** Debian bookworm from debootstrap (scripts/setup.sh); the host's node and this checkout's build are bind-mounted. */
const IMAGE = "medic-test/bookworm:latest";

/** Runs the docker CLI; never throws, the caller judges the exit code. */
function docker(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("docker", args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 127) : 0, stdout, stderr });
    });
  });
}

async function must(args: string[]): Promise<string> {
  const r = await docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

describe("state dir lock across containers, on the real engine", () => {
  it("two medics in two containers on one state volume, both pid 1: the second refuses and the first keeps running; once the first stops, the second starts", async () => {
    // Fail, not skip: a machine that cannot run this test is a broken setup, and says how to fix it.
    const version = await docker(["version", "--format", "{{.Server.Version}}"]);
    if (version.code !== 0) throw new Error(`no Docker engine answers (${version.stderr.trim()}); run scripts/setup.sh as root`);
    if ((await docker(["image", "inspect", IMAGE])).code !== 0)
      throw new Error(`no ${IMAGE} image; run scripts/setup.sh as root (it builds it with debootstrap)`);

    const dir = tempDir("medic-lock-containers-");
    chmodSync(dir, 0o755);
    const state = join(dir, "state");
    mkdirSync(state);
    writeFileSync(
      join(dir, "medic.yaml"),
      `stateDir: /var/lib/medic
playbooks: []
targets:
  - { name: quiet, probe: { tcp: { host: 127.0.0.1, port: 9 } }, interval: 1h }
`,
      { mode: 0o644 },
    );
    const ro = (from: string, to: string) => ["-v", `${from}:${to}:ro`];
    const unique = `${process.pid}-${Date.now().toString(36)}`;
    // No --init: medic is pid 1 in each container, the same pid in two pid namespaces.
    const create = async (name: string) => {
      onCleanup(async () => void (await docker(["rm", "--force", name])));
      await must([
        "create",
        "--name",
        name,
        ...ro(process.execPath, "/usr/local/bin/node"),
        ...["dist", "node_modules", "package.json"].flatMap((p) => ro(join(ROOT, p), `/opt/medic/${p}`)),
        ...ro(join(dir, "medic.yaml"), "/etc/medic/medic.yaml"),
        "-v",
        `${state}:/var/lib/medic`,
        IMAGE,
        "/usr/local/bin/node",
        "/opt/medic/dist/cli/main.js",
        "run",
        "--config",
        "/etc/medic/medic.yaml",
      ]);
    };
    const logs = async (name: string) => {
      const r = await docker(["logs", name]);
      return r.stdout + r.stderr;
    };
    const running = async (name: string) => (await must(["inspect", "--format", "{{.State.Running}}", name])) === "true";
    const [first, second] = [`medic-test-lock-a-${unique}`, `medic-test-lock-b-${unique}`];
    await create(first);
    await create(second);

    await must(["start", first]);
    await waitUntil(async () => (await logs(first)).includes("medic started"), 30_000, "the first medic to start in its container");
    const held = parseOwner(readFileSync(join(state, LOCK_FILE), "utf8"))!;
    expect(held).toMatchObject({ pid: 1, host: await must(["inspect", "--format", "{{.Config.Hostname}}", first]) });

    await must(["start", second]);
    await waitUntil(async () => !(await running(second)), 30_000, "the second medic to give up");
    expect(await must(["inspect", "--format", "{{.State.ExitCode}}", second])).toBe("2");
    const refused = await logs(second);
    expect(refused).toContain(
      `another medic (pid 1 on host ${held.host}, locked at ${held.startedAt}; another pid namespace on this machine: a container) is using /var/lib/medic`,
    );
    expect(refused).not.toContain("medic started");

    // The first never noticed: still running, still the holder, nothing taken from it.
    expect(await running(first)).toBe(true);
    expect(parseOwner(readFileSync(join(state, LOCK_FILE), "utf8"))?.token).toBe(held.token);
    expect(await logs(first)).not.toMatch(/took over|stopping/);

    // And then: the first stops cleanly and lets go; the second starts.
    await must(["stop", "--time", "15", first]);
    expect(await must(["inspect", "--format", "{{.State.ExitCode}}", first])).toBe("0");
    expect(existsSync(join(state, LOCK_FILE))).toBe(false);
    await must(["start", second]);
    await waitUntil(async () => (await logs(second)).includes("medic started"), 30_000, "the second medic to start once the first stopped");
    expect(parseOwner(readFileSync(join(state, LOCK_FILE), "utf8"))).toMatchObject({
      pid: 1,
      host: await must(["inspect", "--format", "{{.Config.Hostname}}", second]),
    });
  }, 120_000);
});
