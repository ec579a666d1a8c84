// Builds the validated Config from config/*.json files, the environment and (in development)
// generated secrets. The only module that reads process.env.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { configProblems, configSchema, ENV_VARS, type Config } from './schema.ts';
import { loadOrCreateDevSecrets } from './dev-secrets.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Json = Record<string, unknown>;

const ROOT = path.resolve(import.meta.dirname, '../..');

function readJson(file: string): Json {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Json;
  } catch (err) {
    throw new ConfigError(`Invalid configuration file ${path.relative(ROOT, file)}: ${(err as Error).message}`);
  }
}

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (k.startsWith('_')) continue; // comments in example files
    const prev = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object'
      ? merge(prev as Json, v as Json)
      : v;
  }
  return out;
}

function setPath(target: Json, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Json;
  node[keys.at(-1)!] = value;
}

function parseEnvValue(name: string, raw: string, kind: string): unknown {
  if (kind === 'int') {
    if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`Invalid configuration: ${name} must be a whole number, got "${raw}"`);
    return Number(raw);
  }
  if (kind === 'bool') {
    if (!/^(true|false|1|0)$/i.test(raw.trim())) throw new ConfigError(`Invalid configuration: ${name} must be true or false, got "${raw}"`);
    return /^(true|1)$/i.test(raw.trim());
  }
  if (kind === 'list') return raw.split(',').map((s) => s.trim()).filter(Boolean);
  return raw;
}

function envNameFor(configPath: string): string | undefined {
  return Object.entries(ENV_VARS).find(([, v]) => v.path === configPath)?.[0];
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  configDir?: string;
}

export function loadConfig({ env = process.env, configDir = path.join(ROOT, 'config') }: LoadOptions = {}): Config {
  const mode = env.NODE_ENV ?? 'development';
  let raw = readJson(path.join(configDir, 'default.json'));
  for (const name of [`${mode}.json`, 'local.json']) {
    const file = path.join(configDir, name);
    if (existsSync(file)) raw = merge(raw, readJson(file));
  }
  raw.env = mode;
  for (const [name, { path: p, kind }] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, p, parseEnvValue(name, value, kind));
  }
  if (typeof raw.dataDir === 'string') raw.dataDir = path.resolve(ROOT, raw.dataDir);

  if (mode !== 'production' && (raw.cookieKeys === undefined || raw.encryptionKey === undefined)) {
    const dev = loadOrCreateDevSecrets(raw.dataDir as string);
    raw.cookieKeys ??= dev.cookieKeys;
    raw.encryptionKey ??= dev.encryptionKey;
  }
  if (mode === 'production') {
    for (const [key, name] of [['cookieKeys', 'COOKIE_KEYS'], ['encryptionKey', 'ENCRYPTION_KEY'], ['mongodbUri', 'MONGODB_URI']] as const) {
      if (raw[key] === undefined) throw new ConfigError(`Invalid configuration: ${name} is required when NODE_ENV=production`);
    }
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const dotted = issue.path.filter((p) => typeof p === 'string').join('.');
    const envName = envNameFor(dotted) ?? envNameFor(issue.path.slice(0, -1).join('.'));
    const label = envName ? `${envName} (${dotted})` : dotted || '(root)';
    throw new ConfigError(`Invalid configuration: ${label}: ${issue.message}`);
  }
  const problem = configProblems(parsed.data);
  if (problem) throw new ConfigError(`Invalid configuration: ${problem}`);
  return parsed.data;
}
