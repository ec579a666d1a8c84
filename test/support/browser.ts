// Debian's Chromium for the browser tests (never a downloaded build), with the flags this closed
// network needs: no background services phoning home; playwright makes a fresh profile.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Chromium, or undefined (with the reason printed) when the machine has none. */
export async function launchChromium(): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    console.log(`      SKIPPED: ${CHROMIUM} not found; run \`npm run browser:install\` (Debian's chromium package)`);
    return undefined;
  }
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}
