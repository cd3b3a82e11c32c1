import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import ini from "ini";
import { VoxportError } from "../errors.js";
import { checkSecretFile } from "../storage/credentials.js";

/**
 * Where the BOSS API is and the token for it, the way intern finds them: an INI file with a
 * `[Default]` section holding `protocol`, `host` and `token` (`~/.intern/intern.cfg` unless a
 * file is named; ndpush's `neurodata.cfg` has the same shape). `[Project]` and `[Volume]`
 * sections, when present, override `[Default]` for resource and cutout calls in intern; voxport
 * uses one host for both, so it reads `[Volume]` over `[Default]`.
 *
 * Environment variables win over the file: BOSS_PROTOCOL, BOSS_HOST, BOSS_TOKEN (and intern's
 * own INTERN_PROTOCOL, INTERN_HOST, INTERN_TOKEN). The config file holds a secret, so one that
 * group or others can read is refused (`chmod 600`). The token is never logged, never put in a
 * job description or a queue message, and never echoed in an error.
 */

export interface BossConfig {
  protocol: "http" | "https";
  host: string;
  token: string;
  /** The file the settings came from, when one was read. */
  file?: string;
}

export const DEFAULT_CONFIG = join(homedir(), ".intern", "intern.cfg");

function pick(env: NodeJS.ProcessEnv, key: string): string | undefined {
  const v = env[`BOSS_${key}`] ?? env[`INTERN_${key}`];
  return v?.trim() ? v.trim() : undefined;
}

export interface LoadConfigOptions {
  /** An explicit file (`--boss-config`): must exist. Without one, the default file is optional. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** A host the job recorded: used when neither the environment nor the file names one. */
  host?: string;
  protocol?: "http" | "https";
}

export function loadBossConfig(opts: LoadConfigOptions = {}): BossConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  let section: Record<string, unknown> = {};
  if (file) {
    checkSecretFile(file, "BOSS config file");
    const parsed = ini.parse(readFileSync(file, "utf8"));
    const def = parsed.Default as Record<string, unknown> | undefined;
    if (!def || typeof def !== "object") {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `BOSS config file ${file}: no [Default] section (intern's format: [Default] with protocol, host and token)`,
      );
    }
    const vol = parsed.Volume as Record<string, unknown> | undefined;
    section = { ...def, ...(vol && typeof vol === "object" ? vol : {}) };
  }
  const str = (k: string) =>
    typeof section[k] === "string" && (section[k] as string).trim()
      ? (section[k] as string).trim()
      : undefined;
  const token = pick(env, "TOKEN") ?? str("token");
  const host = pick(env, "HOST") ?? opts.host ?? str("host");
  const protocol = pick(env, "PROTOCOL") ?? opts.protocol ?? str("protocol") ?? "https";
  const where = file ? `BOSS config file ${file}` : "the environment";
  if (!token) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `no BOSS token: ${file ? `${file} [Default] has no token` : `no config file (${DEFAULT_CONFIG} or --boss-config FILE)`}` +
        " and BOSS_TOKEN is not set; get one at <host>/v1/mgmt/token",
    );
  }
  if (!host) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `no BOSS host: ${where} names none (set [Default] host or BOSS_HOST)`,
    );
  }
  if (protocol !== "http" && protocol !== "https") {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${where}: protocol must be http or https (got "${protocol}")`,
    );
  }
  if (!/^[A-Za-z0-9.-]+(:\d+)?$/.test(host)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${where}: host must be a host name with an optional port, like api.bossdb.io (got "${host}")`,
    );
  }
  return { protocol, host, token, file };
}
