// Headless Chromium (the Debian `chromium` package) driven by playwright-core, for the page
// tests of the `switchboard` binary.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.SWITCHBOARD_CHROMIUM ?? "/usr/bin/chromium";

/** Where screenshots are kept: target/e2e-artifacts of the workspace. */
export function artifactsDir() {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
  const dir = join(process.env.CARGO_TARGET_DIR ?? join(root, "target"), "e2e-artifacts");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A fresh headless Chromium profile; `close()` ends it and removes the profile. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "switchboard-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1100, height: 700 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the chat at `url` in a new tab and signs in as `username`. */
export async function openChat(context, url, username) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(url + "/chat");
  await page.getByLabel("Name").fill(username);
  await page.getByRole("button", { name: "Enter the chat" }).click();
  await page.locator("#chat-view").waitFor({ state: "visible" });
  await page.locator("#login-view").waitFor({ state: "hidden" });
  await page.locator("#room-title").filter({ hasText: "# general" }).waitFor();
  return { page, errors };
}
