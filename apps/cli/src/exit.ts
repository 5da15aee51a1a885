/** Exit codes of the `nullroom` command (documented in README and docs/PROTOCOL.md §7). */
export const Exit = { OK: 0, FAILURE: 1, USAGE: 2, CONNECTION: 4 } as const;

/** A failure with a message for the user and the exit code it maps to. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
