/** A relay option that is wrong: the message names the option or the file, never a secret. */
export class RelayConfigError extends Error {
  readonly code = 'NR_RELAY_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'RelayConfigError';
  }
}
