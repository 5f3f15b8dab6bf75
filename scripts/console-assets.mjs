// Puts the web console's static files beside its compiled modules in dist/console: the page (with
// a preload link per module), the style sheet and the icon from src/console, and preact vendored
// from node_modules (its ES module build, with hooks pointed at it by a relative path, since a
// browser resolves no bare "preact").
// Run by `npm run build` after tsc; medic serves dist/console as it is, so nothing is fetched from
// elsewhere at run time. Usage: node scripts/console-assets.mjs
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src/console");
const out = join(root, "dist/console");
mkdirSync(out, { recursive: true });

for (const name of ["console.css", "favicon.svg"]) copyFileSync(join(src, name), join(out, name));

// No source maps are shipped: the comment would make a browser's tools ask for a file that is not served.
const withoutMap = (text) => text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "\n");
const preact = join(root, "node_modules/preact");
writeFileSync(join(out, "preact.js"), withoutMap(readFileSync(join(preact, "dist/preact.mjs"), "utf8")));
const hooks = withoutMap(readFileSync(join(preact, "hooks/dist/hooks.mjs"), "utf8"));
const bare = /from\s*"preact"/g;
if ((hooks.match(bare) ?? []).length !== 1) {
  console.error('console-assets: preact/hooks no longer imports "preact" exactly once; update scripts/console-assets.mjs');
  process.exit(1);
}
writeFileSync(join(out, "preact-hooks.js"), hooks.replace(bare, 'from"./preact.js"'));
const { version } = JSON.parse(readFileSync(join(preact, "package.json"), "utf8"));
writeFileSync(join(out, "preact-LICENSE.txt"), `preact ${version}\n\n${readFileSync(join(preact, "LICENSE"), "utf8")}`);

// The page names every module it imports up front (main.js's imports, and theirs), so the browser
// fetches them at once rather than one import level after another: a round trip each, behind a
// distant proxy. Type-only modules are imported by nothing at run time and are left out.
const modules = new Set();
const crawl = (name) => {
  for (const m of readFileSync(join(out, name), "utf8").matchAll(/\b(?:from|import)\s*"\.\/([\w-]+\.js)"/g)) {
    if (modules.has(m[1])) continue;
    modules.add(m[1]);
    crawl(m[1]);
  }
};
crawl("main.js");
const page = readFileSync(join(src, "index.html"), "utf8");
const marker = "    <!-- modules -->\n";
if (!page.includes(marker)) {
  console.error(`console-assets: ${join(src, "index.html")} has no "<!-- modules -->" line to put the module list at`);
  process.exit(1);
}
const preloads = [...modules]
  .sort()
  .map((n) => `    <link rel="modulepreload" href="console/${n}" />\n`)
  .join("");
writeFileSync(join(out, "index.html"), page.replace(marker, preloads));
