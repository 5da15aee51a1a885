/**
 * Whether the relay takes work (GET /readyz, docs/OPERATING.md "Signals, logs, health"): it is
 * listening, not draining, and every readiness check passes (its stores answer; a cluster layer
 * adds its own, such as "Redis connected"). A check that throws or takes longer than
 * CHECK_TIMEOUT_MS fails. The answer names the failing checks only (names set in code, never a
 * secret or an address).
 */

/** One condition of readiness; `name` appears in /readyz's answer when it fails. */
export interface ReadyCheck {
  readonly name: string;
  ready(): boolean | Promise<boolean>;
}

export const CHECK_TIMEOUT_MS = 2000;

export class Readiness {
  private drainingFlag = false;
  private readonly checks: ReadyCheck[] = [];

  constructor(checks: readonly ReadyCheck[] = []) {
    this.checks.push(...checks);
  }

  get draining(): boolean {
    return this.drainingFlag;
  }

  /** From now on: /readyz answers 503 and new WebSocket upgrades are refused (upgrade.ts). Not undone. */
  drain(): void {
    this.drainingFlag = true;
  }

  add(check: ReadyCheck): void {
    this.checks.push(check);
  }

  /** Runs every check (at once, each bounded in time): ready, or the names of those that failed. */
  async check(): Promise<{ ready: boolean; failing: string[] }> {
    const results = await Promise.all(this.checks.map(async (c) => ((await passes(c)) ? undefined : c.name)));
    const failing = [...(this.drainingFlag ? ['draining'] : []), ...results.filter((n): n is string => n !== undefined)];
    return { ready: failing.length === 0, failing };
  }
}

function passes(c: ReadyCheck): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
    timer.unref();
    Promise.resolve()
      .then(() => c.ready())
      .then(
        (ok) => resolve(ok === true),
        () => resolve(false),
      )
      .finally(() => clearTimeout(timer));
  });
}
