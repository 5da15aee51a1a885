/**
 * `nullroom serve --config FILE` (or NULLROOM_CONFIG): a JSON object whose keys are the long flag
 * names in camelCase (the ServeOptions fields: `port`, `maxConnsPerIp`, `roomStore`, ...), checked
 * with zod. Precedence: a flag given on the command line, then the environment variable of that
 * setting (NULLROOM_DATABASE_URL, NULLROOM_LOG_LEVEL, ...), then the file, then the defaults
 * (docs/OPERATING.md "Configuration file"). An unknown key or a value of the wrong type is a usage
 * error that names the key and the type it takes, never the value (it may be a secret: a token, a
 * database URL). Loaded only when a file is given, so that a relay without one never loads zod.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { CliError, Exit } from './errors.js';
import { safeText } from './output.js';
import type { ServeOptions } from './serve.js';

/** A number or a string (a port, a count, a size such as "256M"), kept as the string a flag would give. */
const numeric = z.union([z.string(), z.number()]).transform(String);
const text = z.string();
const flag = z.boolean();

const shape = {
  host: text,
  port: numeric,
  data: text,
  cert: text,
  key: text,
  selfSigned: flag,
  verbose: flag,
  logLevel: text,
  web: text,
  blobDir: text,
  blobMax: numeric,
  blobQuota: numeric,
  blobTtl: numeric,
  accountFileTtl: numeric,
  accountFileQuota: numeric,
  allowOrigin: z.array(z.string()),
  trustProxy: flag,
  maxOutput: numeric,
  maxGroupInfo: numeric,
  maxConns: numeric,
  maxConnsPerIp: numeric,
  maxRoomsPerIp: numeric,
  newRoomsPerMinute: numeric,
  maxHttpConnsPerIp: numeric,
  maxHttpConns: numeric,
  resumeGrace: numeric,
  roomStore: flag,
  accounts: flag,
  databaseUrl: text,
  databaseSchema: text,
  metricsPort: numeric,
  metricsHost: text,
  metricsToken: text,
  drainSeconds: numeric,
  redisUrl: text,
  clusterPrefix: text,
  advertiseUrl: text,
} satisfies { [K in keyof ServeOptions]?: z.ZodType };

const schema = z.strictObject(shape).partial();
export type ServeConfig = z.infer<typeof schema>;

/** What a key takes, for the error message. */
function takes(key: string): string {
  const s = (shape as Record<string, z.ZodType>)[key];
  if (s === numeric) return 'a number or a string';
  if (s === flag) return 'true or false';
  if (s === text) return 'a string';
  return 'a list of strings';
}

/** The settings an environment variable gives, which win over the file's. */
const ENV: Partial<Record<keyof ServeConfig, string>> = {
  databaseUrl: 'NULLROOM_DATABASE_URL',
  databaseSchema: 'NULLROOM_DATABASE_SCHEMA',
  logLevel: 'NULLROOM_LOG_LEVEL',
  metricsToken: 'NULLROOM_METRICS_TOKEN',
  redisUrl: 'NULLROOM_REDIS_URL',
  clusterPrefix: 'NULLROOM_CLUSTER_PREFIX',
  advertiseUrl: 'NULLROOM_ADVERTISE_URL',
};

/** Checks a parsed file: the settings, or a usage error naming the first bad key (never its value). */
export function parseServeConfig(input: unknown): ServeConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new CliError('config file: it must hold one JSON object of settings', Exit.USAGE);
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const k = safeText(String(issue.keys[0] ?? '').slice(0, 64));
    throw new CliError(`config file: unknown key "${k}" (keys are the long flag names in camelCase, such as maxConnsPerIp)`, Exit.USAGE);
  }
  const key = String(issue.path[0] ?? '');
  throw new CliError(`config file: "${key}" must be ${takes(key)}`, Exit.USAGE);
}

/** Reads and checks the file. */
export async function loadServeConfig(path: string): Promise<ServeConfig> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch {
    throw new CliError(`cannot read the config file ${safeText(path)}`, Exit.USAGE);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new CliError('config file: it is not valid JSON', Exit.USAGE);
  }
  return parseServeConfig(parsed);
}

/**
 * The options with the file's settings under them: a setting applies unless its flag was given on
 * the command line (`given(key)`) or its environment variable is set.
 */
export function withConfig(o: ServeOptions, config: ServeConfig, given: (key: string) => boolean): ServeOptions {
  const merged: Record<string, unknown> = { ...o };
  for (const [key, value] of Object.entries(config)) {
    const env = ENV[key as keyof ServeConfig];
    if (given(key) || (env !== undefined && (process.env[env] ?? '') !== '')) continue;
    merged[key] = value;
  }
  return merged as unknown as ServeOptions;
}
