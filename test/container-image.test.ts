import { execFile, spawn } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseJournal } from "../src/incidents/journal-read.js";
import { docker as engine, runHttpContainer, TEST_IMAGE } from "./docker-harness.js";
import { catJournal, cleanup, onCleanup, ROOT, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

/** Debian bookworm from debootstrap (scripts/setup.sh): no registry is reachable here. */
const BASE = "medic-test/bookworm:latest";
const SOCKET = "/var/run/docker.sock";

/** Runs the docker CLI; never throws, the caller judges the exit code. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("docker", args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 127) : 0;
      resolve({ code, stdout, stderr: stderr || (err && !stdout ? err.message : stderr) });
    });
  });
}

async function must(args: string[]): Promise<string> {
  const r = await cli(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** An image holding only this test's own Node binary at /usr/local/bin/node, as the official node images keep it. */
async function importNode(tag: string): Promise<void> {
  const tar = spawn(
    "tar",
    ["-C", dirname(process.execPath), "-ch", "--transform", "s,.*,usr/local/bin/node,", basename(process.execPath)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const imp = spawn("docker", ["import", "-", tag], { stdio: ["pipe", "ignore", "pipe"] });
  tar.stdout.pipe(imp.stdin);
  let err = "";
  imp.stderr.on("data", (d) => (err += d));
  const code = await new Promise<number | null>((ok) => imp.once("exit", ok));
  if (code !== 0) throw new Error(`docker import of ${process.execPath} failed: ${err.trim()}`);
}

/**
 * Removes the images a build created, its intermediate images too (the legacy builder keeps them
 * as cache, and a stage the final image does not descend from outlives `docker rmi` of it): those
 * its output names that did not exist before it, so nobody else's image is touched.
 */
async function removeBuilt(before: Set<string>, output: () => string, tags: string[]): Promise<void> {
  await cli(["rmi", "--force", ...tags]);
  const named = [...output().matchAll(/---> ([0-9a-f]{12})\b/g)].map((m) => m[1]!);
  for (let pass = 0; pass < 3; pass++) {
    const all = (await must(["images", "-aq", "--no-trunc"])).split("\n");
    const ours = all.filter((id) => id && !before.has(id) && named.some((short) => id.startsWith(`sha256:${short}`)));
    if (ours.length === 0) return;
    // Children first: the newest were created last.
    await cli(["rmi", ...new Set(ours)]);
  }
}

describe("the container image, built and run on the local engine", () => {
  it("runs medic as uid 10001 with the socket mounted: it restarts a killed container, journals into its volume and reports healthy", async () => {
    // Fail, not skip: a machine that cannot run this test is a broken setup, and says how to fix it.
    const version = await cli(["version", "--format", "{{.Server.Version}}"]);
    if (version.code !== 0) throw new Error(`no Docker engine answers (${version.stderr.trim()}); run scripts/setup.sh as root`);
    if ((await cli(["image", "inspect", BASE])).code !== 0)
      throw new Error(`no ${BASE} image; run scripts/setup.sh as root (it builds it with debootstrap)`);

    const unique = `${process.pid}-${Date.now().toString(36)}`;
    const nodeImage = `medic-test/node:${unique}`;
    const image = `medic-test/medic:${unique}`;
    const before = new Set((await must(["images", "-aq", "--no-trunc"])).split("\n"));
    let output = "";
    onCleanup(() => removeBuilt(before, () => output, [image, nodeImage]));
    await importNode(nodeImage);

    const buildStarted = Date.now();
    const build = await cli([
      "build",
      "--force-rm",
      "--build-arg",
      `BASE=${BASE}`,
      "--build-arg",
      `NODE_IMAGE=${nodeImage}`,
      "-t",
      image,
      ROOT,
    ]);
    const buildMs = Date.now() - buildStarted;
    output = build.stdout;
    expect(build.code, build.stderr + build.stdout.slice(-2000)).toBe(0);
    const context = /Sending build context to Docker daemon\s+([\d.]+\s*[kMG]?B)/.exec(build.stdout)?.[1];
    const info = await engine.getImage(image).inspect();
    expect(info.Config.User).toBe("medic:medic");
    expect(Object.keys(info.Config.Volumes ?? {})).toEqual(["/var/lib/medic"]);
    expect(info.Config.Healthcheck?.Test?.slice(0, 2)).toEqual(["CMD", "node"]);
    // Production dependencies only: no compiler, no test runner.
    const listing = await must([
      "run",
      "--rm",
      "--entrypoint",
      "node",
      image,
      "-e",
      "const fs = require('fs'); console.log(JSON.stringify(['typescript', 'vitest', 'dockerode', 'zod'].map((p) => fs.existsSync('/opt/medic/node_modules/' + p))))",
    ]);
    expect(JSON.parse(listing)).toEqual([false, false, true, true]);

    // A container that opts in with a label only this test uses, so medic leaves other tests' containers alone.
    const label = `medic-test-${unique}.enable`;
    const watched = await runHttpContainer({ labels: { [label]: "true" } });
    const dir = tempDir();
    const config = join(dir, "medic.yaml");
    writeFileSync(
      config,
      `stateDir: /var/lib/medic
playbooks: [/opt/medic/playbooks]
defaults: { interval: 1s, timeout: 3s, failureThreshold: 2, successThreshold: 2 }
discovery:
  docker: { label: ${label} }
`,
      { mode: 0o644 },
    );
    const volume = `medic-test-state-${unique}`;
    await must(["volume", "create", volume]);
    onCleanup(async () => void (await cli(["volume", "rm", "--force", volume])));
    const name = `medic-test-medic-${unique}`;
    onCleanup(async () => void (await cli(["rm", "--force", "--volumes", name])));
    // The README's command, with the health check made quicker for the test.
    await must([
      "run",
      "-d",
      "--name",
      name,
      "--init",
      "--stop-timeout",
      "15",
      "--group-add",
      String(statSync(SOCKET).gid),
      "-v",
      `${SOCKET}:${SOCKET}`,
      "-v",
      `${config}:/etc/medic/medic.yaml:ro`,
      "-v",
      `${volume}:/var/lib/medic`,
      "--health-interval",
      "1s",
      image,
    ]);
    const logs = async () => {
      const r = await cli(["logs", name]);
      return r.stdout + r.stderr;
    };
    await waitUntil(async () => (await logs()).includes("medic started"), 20_000, "medic to start in its container");
    await waitUntil(async () => (await logs()).includes(watched.name), 15_000, "medic to discover the labelled container");

    // Every process in the container (tini and medic) runs as medic, not root.
    const top = (await must(["top", name, "-o", "uid,pid,args"])).split("\n").slice(1);
    expect(top.length).toBeGreaterThanOrEqual(2);
    for (const line of top) expect(line).toMatch(/^10001\s/);

    const health = async () => (await engine.getContainer(name).inspect()).State.Health?.Status;
    await waitUntil(async () => (await health()) === "healthy", 20_000, "the container's healthcheck (/healthz) to pass");
    // The same check fails when nothing answers where it looks (MEDIC_HEALTHZ_URL moves it).
    const check = info.Config.Healthcheck!.Test!.slice(1);
    expect((await cli(["exec", name, ...check])).code).toBe(0);
    expect((await cli(["exec", "-e", "MEDIC_HEALTHZ_URL=http://127.0.0.1:9/healthz", name, ...check])).code).toBe(1);

    const killedAt = Date.now();
    await engine.getContainer(watched.id).kill();
    const exec = async () => parseJournal(await must(["exec", name, "sh", "-c", catJournal("/var/lib/medic")])).records;
    const resolved = await waitUntil(
      async () => (await exec().catch(() => [])).find((r) => r.type === "resolved"),
      45_000,
      "medic in its container to restart the killed container",
    );
    const after = await watched.inspect();
    expect(after.State.Running).toBe(true);
    expect(Date.parse(after.State.StartedAt)).toBeGreaterThan(killedAt);

    // The CLI inside the image reads the same journal: a postmortem draft of what just happened.
    const report = await must(["exec", name, "medic", "incidents", "show", resolved.incident, "--format", "markdown"]);
    expect(report.split("\n")[0]).toBe(`# Incident ${resolved.incident}: \`server_down\` on ${watched.name}`);
    expect(report).toContain("by playbook `restart-container`, recovery verified by probing");

    await must(["stop", name]);
    const stopped = await engine.getContainer(name).inspect();
    expect(stopped.State.ExitCode).toBe(0);
    expect(await logs()).toContain("medic stopped");

    // The journal outlives the container: it is in the volume, owned by medic's uid.
    const fromVolume = await must([
      "run",
      "--rm",
      "-v",
      `${volume}:/state:ro`,
      TEST_IMAGE,
      "sh",
      "-c",
      `ls -lnd /state/journal /state/journal.jsonl 2>/dev/null | head -1; ${catJournal("/state")}`,
    ]);
    const [ls, ...lines] = fromVolume.split("\n");
    expect(ls).toMatch(/^\S+\s+\d+\s+10001\s+10001\s/);
    const records = parseJournal(lines.join("\n")).records.filter(
      (r) => r.incident === resolved.incident && !r.type.startsWith("notification_"),
    );
    expect(records.map((r) => r.type)).toEqual(["opened", "playbook_started", "step_started", "step_finished", "verifying", "resolved"]);
    expect(records[0]).toMatchObject({ target: watched.name, kind: "server_down", evidence: expect.stringContaining("137") });
    expect(records[1]).toMatchObject({ playbook: "restart-container" });

    const size = info.Size / 1e6;
    const base = (await engine.getImage(BASE).inspect()).Size / 1e6;
    console.log(
      `container image: built in ${(buildMs / 1000).toFixed(1)} s (context ${context ?? "?"}), ${size.toFixed(0)} MB ` +
        `(${(size - base).toFixed(0)} MB on top of the ${base.toFixed(0)} MB base, Node included); kill to resolved ${resolved.at - killedAt} ms`,
    );
  }, 150_000);
});
