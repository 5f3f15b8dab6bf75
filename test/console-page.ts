import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { ROOT } from "./harness.js";

// The web console as a person uses it, in Debian's chromium driven by playwright-core (nothing
// downloads a browser): what the browser tests click, read and measure.

/** Debian's chromium (scripts/setup.sh installs it). */
export const CHROMIUM = "/usr/bin/chromium";

/** Starts chromium headless; says how to get it when it is missing. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: run scripts/setup.sh (it installs Debian's chromium)`);
  // As root (the test machines), chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/** A fresh page (its own session storage and cache) with the console open at `url`; page errors are collected, and `onRequest` hears every URL the page asks for. */
export async function openConsole(
  browser: Browser,
  url: string,
  onRequest?: (url: string) => void,
): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  if (onRequest) page.on("request", (r) => onRequest(r.url()));
  await page.goto(url);
  return { page, errors };
}

/** The fleet view's row of a target. */
export const fleetRow = (page: Page, target: string) => page.locator(`tr[data-target="${target}"]`);

/** The state word a target's row shows (its data-state). */
export const rowState = (page: Page, target: string) => fleetRow(page, target).locator("[data-state]").getAttribute("data-state");

/** The console's live stream is open and has said what it knows. */
export async function waitLive(page: Page): Promise<void> {
  await page.locator('[data-testid="live"][data-state="live"]').waitFor();
}

/** Answers the token prompt (it opens when the API wants a token for reads). */
export async function enterToken(page: Page, token: string): Promise<void> {
  const dialog = page.getByRole("dialog", { name: "API token" });
  await dialog.waitFor();
  // The prompt has the focus: typing and Enter is all it takes.
  await page.keyboard.type(token);
  await page.keyboard.press("Enter");
  await dialog.waitFor({ state: "detached" });
}

/** Every control a role may be given, by the words on it: none of them may show to a viewer. */
export const CONTROL_NAMES = /^(Acknowledge|Approve|Reject|Pause\b.*|Resume\b.*|Reset flap guard\b.*)$/;

/** How many controls the page shows (buttons and control panels). */
export async function controlsShown(page: Page): Promise<number> {
  const buttons = await page.getByRole("button", { name: CONTROL_NAMES }).count();
  const panels = await page.locator('[data-testid="controls"], [data-testid="approval"]').count();
  return buttons + panels;
}

/** The journal lines the incident page lists, in order. */
export async function journalLines(page: Page): Promise<string[]> {
  return page.locator('[data-testid="records"] li .text').allTextContents();
}

/**
 * Answers an approval gate on the incident page that is open: the plan is in front of the person,
 * then Approve (with an optional note) or Reject (with its reason). Resolves with the plan's lines.
 */
export async function answerApproval(
  page: Page,
  answer: { approve: true; note?: string } | { approve: false; reason: string },
): Promise<string[]> {
  const panel = page.getByTestId("approval");
  await panel.waitFor();
  const plan = (await panel.locator("pre.plan").textContent())?.split("\n") ?? [];
  if (answer.approve) {
    const form = panel.getByRole("form", { name: "Approve" });
    if (answer.note) await form.getByLabel("Note").fill(answer.note);
    await form.getByRole("button", { name: "Approve" }).click();
  } else {
    const form = panel.getByRole("form", { name: "Reject" });
    await form.getByLabel("Reason").fill(answer.reason);
    await form.getByRole("button", { name: "Reject" }).click();
  }
  await panel.getByRole("status").filter({ hasText: /\S/ }).waitFor();
  return plan;
}

/** What the first load cost on the wire: every response of the page so far but the live stream (still open). */
export async function pageWeight(page: Page): Promise<{ requests: number; transferred: number; decoded: number; assets: number }> {
  // Runs in the page (browser types are not this program's: it is checked against node's).
  return page.evaluate(`(() => {
    const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
    const sum = (list, f) => list.reduce((n, e) => n + f(e), 0);
    const assets = entries.filter((e) => e.entryType === "navigation" || /\\/console\\//.test(e.name));
    return {
      requests: entries.length,
      transferred: sum(entries, (e) => e.transferSize),
      decoded: sum(entries, (e) => e.decodedBodySize),
      assets: sum(assets, (e) => e.transferSize),
    };
  })()`);
}

/** How long the console's draws took (its performance.measure "medic:render"), with the number of targets each drew. */
export async function renderTimes(page: Page): Promise<{ ms: number; targets: number }[]> {
  return page.evaluate(`performance.getEntriesByName("medic:render").map((e) => ({ ms: e.duration, targets: e.detail?.targets ?? 0 }))`);
}

/** With MEDIC_SCREENSHOTS=1, saves the page as docs/console/NAME.png (the README shows them); otherwise does nothing. */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.MEDIC_SCREENSHOTS !== "1") return;
  await page.screenshot({ path: join(ROOT, "docs/console", `${name}.png`), fullPage: true });
}
