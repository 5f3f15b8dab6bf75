// Copies the production dependencies that package-lock.json names from a full node_modules into
// OUT/node_modules: what `npm ci --omit=dev` installs, without npm or a registry (the image build
// has neither). Usage: node production-modules.mjs PROJECT_DIR OUT_DIR
import { cpSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [project, out] = process.argv.slice(2);
if (!project || !out) {
  console.error("usage: node production-modules.mjs PROJECT_DIR OUT_DIR");
  process.exit(2);
}
const lock = JSON.parse(readFileSync(join(project, "package-lock.json"), "utf8"));
if (!(lock.lockfileVersion >= 2) || !lock.packages) {
  console.error(
    `production-modules: ${join(project, "package-lock.json")} is lockfile v${lock.lockfileVersion}; it needs v2 or later (npm 7+)`,
  );
  process.exit(1);
}

let copied = 0;
const missing = [];
for (const [path, pkg] of Object.entries(lock.packages)) {
  // "" is the project itself; dev-only packages are what --omit=dev leaves out; links are workspaces.
  if (!path.startsWith("node_modules/") || pkg.dev || pkg.link) continue;
  const from = join(project, path);
  if (!existsSync(from)) {
    // An optional dependency for another platform is never installed; anything else missing is a broken tree.
    if (!pkg.optional) missing.push(path);
    continue;
  }
  // A package's own node_modules holds its nested dependencies: each has its own entry in the lock.
  const nested = join(from, "node_modules");
  cpSync(from, join(out, path), { recursive: true, filter: (src) => src !== nested });
  copied++;
}
if (missing.length > 0) {
  console.error(
    `production-modules: package-lock.json needs ${missing.join(", ")}, which ${project} does not have ` +
      "(hint: run npm ci first; and check that .dockerignore does not leave out a production dependency)",
  );
  process.exit(1);
}
console.log(`production-modules: ${copied} packages`);
