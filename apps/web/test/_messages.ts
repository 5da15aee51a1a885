/** What the Messages tests share: signing in through the account panel from the Messages screen. */
import type { Page } from 'playwright-core';

/**
 * Opens Messages, registers or signs in as `name` in the account panel, and closes it. A register
 * (or a sign-in on a browser that is a device already) then shows the contacts pane; a sign-in on a
 * new browser shows the approval code instead, so this waits for neither.
 */
export async function signIn(page: Page, mode: 'register' | 'sign-in', name: string, password = `pw ${name} horse battery`): Promise<void> {
  await page.getByTestId('messages-button').click();
  await page.getByTestId('messages-sign-in').click();
  await page.getByTestId(`mode-${mode}`).click();
  await page.getByTestId('account-username').fill(name);
  await page.getByTestId('account-password').fill(password);
  await page.getByTestId('account-submit').click();
  await page.getByTestId('account-name').waitFor({ timeout: 30_000 });
  await page.getByTestId('account-close').click();
}

/** Registers `name` and waits until this browser is its device (the contacts pane). */
export async function register(page: Page, name: string, password?: string): Promise<void> {
  await signIn(page, 'register', name, password);
  await page.getByTestId('contact-name').waitFor({ timeout: 30_000 });
}
