import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, Option } from "commander";
import { checkCommand } from "./check.js";
import { clusterStatusCommand } from "./cluster.js";
import { demoCommand } from "./demo.js";
import { guardResetCommand } from "./guard.js";
import { incidentsCommand, showIncidentCommand } from "./incidents.js";
import { answerCommand } from "./approve.js";
import { notifyTestCommand } from "./notify.js";
import { pauseCommand, pausesCommand, resumeCommand } from "./pause.js";
import { planCommand } from "./plan.js";
import { runCommand } from "./run.js";
import { schemaCommand } from "./schema.js";
import { releaseSighup } from "./sighup.js";
import { validateCommand } from "./validate.js";
import type { GlobalOptions } from "./config.js";
import { EXIT, printError } from "./output.js";

const pkg = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { version: string };

const program = new Command("medic")
  .description("Automated incident recovery: watch services, classify what broke, run playbooks, verify, escalate.")
  .version(pkg.version)
  .option("-c, --config <file>", "config file (default: $MEDIC_CONFIG, else /etc/medic/medic.yaml)")
  .option("--state-dir <dir>", "override the config's stateDir")
  .option("--pretty", "readable logs instead of JSON (the default on a terminal)")
  .showHelpAfterError()
  // A usage mistake exits 2 like a bad config, so scripts never read it as "unhealthy" (1).
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT.badConfig))
  .addHelpText("after", "\nExit codes: 0 ok/healthy, 1 unhealthy or failed, 2 invalid configuration or usage.")
  // Only the daemon reloads on SIGHUP; for every other command it means what it always does.
  .hook("preAction", (_program, action) => {
    if (action.name() !== "run") releaseSighup();
  });

const global = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();
const exit = (code: number) => {
  process.exitCode = code;
};

program
  .command("run")
  .description("run the daemon until SIGTERM/SIGINT")
  .option("--dry-run", "reason and log everything, act on nothing, write nothing")
  .option("--api-listen <host:port|off>", "where the HTTP API listens, overriding api.listen (port 0: any free port)")
  .action(async (o, cmd: Command) => exit(await runCommand({ ...global(cmd), dryRun: o.dryRun, apiListen: o.apiListen })));

program
  .command("check")
  .description("probe every target once; exit 0 if all healthy, 1 if not, 2 if the config is invalid")
  .option("--json", "machine-readable output")
  .action(async (o, cmd: Command) => exit(await checkCommand({ ...global(cmd), json: o.json })));

program
  .command("validate")
  .description("check the config and playbooks; every problem as file:line:col; exit 0 or 2")
  .option("--verbose", "also every warning about shipped playbooks that do not fit these targets (summed up in one line otherwise)")
  .action(async (o, cmd: Command) => exit(await validateCommand({ ...global(cmd), verbose: o.verbose })));

program
  .command("plan")
  .description("print the steps medic would run for an incident, rendered; touches nothing")
  .requiredOption("--target <name>", "a target from the config")
  .requiredOption("--incident <kind>", "an incident kind, e.g. server_down")
  .action(async (o, cmd: Command) => exit(await planCommand({ ...global(cmd), target: o.target, incident: o.incident })));

const incidents = program
  .command("incidents")
  .description("incident history from the journal, newest first")
  .option("--json", "machine-readable output")
  .option(
    "--state <state>",
    "only incidents in this state (open, held, suppressed, remediating, verifying, awaiting_approval, approved, escalated, resolved, unresolved)",
  )
  .option("--since <duration>", "only incidents open at some time in this long before now, like 24h or 7d")
  .option("--limit <n>", "at most this many, the newest (default 100)")
  .option("--all", "every incident (pages through the whole history)")
  .action(async (o, cmd: Command) =>
    exit(await incidentsCommand({ ...global(cmd), json: o.json, state: o.state, since: o.since, limit: o.limit, all: o.all })),
  );
incidents
  .command("show <id>")
  .description("one incident's timeline; --format markdown writes a postmortem draft")
  .addOption(new Option("--format <format>", "text, json, or markdown (a postmortem draft)").choices(["text", "json", "markdown"]))
  .option("--json", "the same as --format json")
  // --json after `show` lands on `incidents`, which has the same option: read it from either.
  .action(async (id: string, o, cmd: Command) =>
    exit(await showIncidentCommand(id, { ...global(cmd), format: cmd.optsWithGlobals().json ? "json" : o.format })),
  );

program
  .command("pause [target]")
  .description("hold a target (or --all): medic keeps probing and recording, but runs no playbook and pages nobody")
  .option("--all", "every target")
  .option("--for <duration>", "how long, at most 7d (required: a pause always expires)")
  .option("--reason <text>", "why, one line (required)")
  .action(async (target: string | undefined, o, cmd: Command) =>
    exit(await pauseCommand(target, { ...global(cmd), all: o.all, for: o.for, reason: o.reason })),
  );

program
  .command("resume [target]")
  .description("end a target's pauses now (--all: every pause; --id: one pause)")
  .option("--all", "every active pause")
  .option("--id <id>", "only the pause with this id")
  .action(async (target: string | undefined, o, cmd: Command) =>
    exit(await resumeCommand(target, { ...global(cmd), all: o.all, id: o.id })),
  );

program
  .command("pauses")
  .description("active pauses and the config's maintenance windows")
  .option("--json", "machine-readable output")
  .action(async (o, cmd: Command) => exit(await pausesCommand({ ...global(cmd), json: o.json })));

program
  .command("approve <id>")
  .description("approve the step an incident waits on; medic checks again, then runs it")
  .option("--note <text>", "a note kept with the approval")
  .action(async (id: string, o, cmd: Command) => exit(await answerCommand(id, "approved", { ...global(cmd), reason: o.note })));

program
  .command("reject <id>")
  .description("reject the step an incident waits on: nothing runs, and it escalates with the reason")
  .requiredOption("--reason <text>", "why (required)")
  .action(async (id: string, o, cmd: Command) => exit(await answerCommand(id, "rejected", { ...global(cmd), reason: o.reason })));

program
  .command("notify")
  .description("notification channels")
  .command("test <channel>")
  .description("send a clearly marked test notification (and its resolve) to a configured channel; print the receiver's answer")
  .action(async (channel: string, _o, cmd: Command) => exit(await notifyTestCommand(channel, global(cmd))));

program
  .command("guard")
  .description("the flap guard, which limits how often playbooks run per target")
  .command("reset <target>")
  .description("let playbooks run on the target again: earlier runs no longer count")
  .action(async (target: string, _o, cmd: Command) => exit(await guardResetCommand(target, global(cmd))));

program
  .command("cluster")
  .description("several medics on one PostgreSQL store")
  .command("status")
  .description("the leader, its epoch and lease, and every node's last heartbeat (exit 1 when nobody leads)")
  .option("--json", "machine-readable output")
  .action(async (o, cmd: Command) => exit(await clusterStatusCommand({ ...global(cmd), json: o.json })));

program
  .command("demo [scenario]")
  .description(
    "the whole loop on a self-contained demo service (about 30 s); `demo cluster`: three medics on a throwaway PostgreSQL, the leader killed mid-fix",
  )
  .option("--verbose", "also print medic's logs (stderr)")
  .action(async (scenario: string | undefined, o) => {
    if (scenario === undefined) return exit(await demoCommand({ verbose: o.verbose }));
    if (scenario !== "cluster") {
      printError(`medic demo: unknown scenario ${JSON.stringify(scenario)} (hint: medic demo, or medic demo cluster)\n`);
      return exit(EXIT.badConfig);
    }
    // Loaded only here: the PostgreSQL client is no cost to every other command.
    const { demoClusterCommand } = await import("./demo-cluster.js");
    exit(await demoClusterCommand({ verbose: o.verbose }));
  });

program
  .command("schema", { hidden: true })
  .description("print or write the JSON Schemas editors use")
  .option("--write [dir]", "write them into this directory (default: the package's schema/)")
  .action(async (o) => exit(await schemaCommand({ write: o.write })));

await program.parseAsync();
