import type { RedisOptions } from "ioredis";
import { VoxportError } from "../../errors.js";

/**
 * `redis://[user:password@]host:port[/db]/NAME` → ioredis options and the queue name. A leading
 * all-digits path segment followed by more segments is the database number, as in the usual
 * redis:// convention; the rest of the path is the name.
 */
export interface RedisAddress {
  options: RedisOptions;
  name: string;
}

export function parseRedisUrl(url: string): RedisAddress {
  let u: URL;
  try {
    u = new URL(url.replace(/\?.*$/, ""));
  } catch {
    throw new VoxportError("INVALID_ARGUMENT", `invalid redis queue URL ${url}`);
  }
  const parts = u.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  let db = 0;
  if (parts.length > 1 && /^\d+$/.test(parts[0])) db = Number(parts.shift());
  const name = parts.join("/") || "voxport";
  if (!/^[A-Za-z0-9_.:/-]+$/.test(name)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `redis queue name ${JSON.stringify(name)} in ${u.host} is not valid (letters, digits, _ . : / -)`,
    );
  }
  return {
    options: {
      host: u.hostname || "127.0.0.1",
      port: u.port ? Number(u.port) : 6379,
      username: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      db,
    },
    name,
  };
}
