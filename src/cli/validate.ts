import { loadOrReport, type GlobalOptions } from "./config.js";
import { EXIT, print } from "./output.js";

/** `medic validate`: config and playbooks, every problem at once; exit 0 or 2. */
export async function validateCommand(opts: GlobalOptions): Promise<number> {
  const config = await loadOrReport(opts);
  if (!config) return EXIT.badConfig;
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? "" : "s"}`;
  print(
    `${config.file}: ok (${n(config.targets.length, "target")}, ${n(config.playbooks.length, "playbook")}, ${n(config.rules.length, "rule")})\n`,
  );
  return EXIT.ok;
}
