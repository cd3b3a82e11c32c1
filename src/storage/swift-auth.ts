import { VoxportError } from "../errors.js";
import { readSecretJson, redact } from "./credentials.js";
import { header, type RawResponse, rawRequest } from "./http-request.js";
import { isRetryableStatus, RetryableError, retryAfterMs, withRetries } from "./retry.js";

/**
 * OpenStack Swift credentials and tokens (seed-systems.md §5.4-5.5).
 *
 * Where settings come from, first match wins:
 *  1. `SWIFT_SETTINGS=<file>`: the HBP image-service JSON (`auth_version`, `os_username`,
 *     `os_password`, `os_project_id` | `os_project_name`, `os_user_domain_name`,
 *     `os_project_domain_name`, `os_auth_url`, `os_storage_url`, `os_region_name`,
 *     `os_auth_token`). The file must be private to its owner (chmod 600), or it is refused.
 *  2. The OpenStack CLI's environment: OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_ID or
 *     OS_PROJECT_NAME, OS_USER_DOMAIN_NAME/ID, OS_PROJECT_DOMAIN_NAME/ID, OS_REGION_NAME,
 *     OS_STORAGE_URL, OS_AUTH_TOKEN, OS_IDENTITY_API_VERSION (or OS_AUTH_VERSION).
 *  3. The swift CLI's v1 variables: ST_AUTH, ST_USER, ST_KEY.
 *
 * Auth versions: "1" (tempauth/swauth: GET <auth_url> with X-Auth-User/X-Auth-Key), "3"
 * (Keystone v3 password, scoped to a project; the object-store endpoint from the catalog unless
 * os_storage_url is given), a ready token (os_auth_token + os_storage_url), or anonymous access
 * to a public container (os_storage_url alone). Tokens are cached per identity for the whole
 * process and renewed before they expire and whenever Swift answers 401.
 *
 * No password or token ever appears in an error message: every message built here passes
 * through `redact` with the secrets this session knows.
 */

export interface SwiftSettings {
  authVersion: "1" | "3" | "token" | "anonymous";
  authUrl?: string;
  username?: string;
  password?: string;
  userDomainName?: string;
  userDomainId?: string;
  projectId?: string;
  projectName?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  regionName?: string;
  storageUrl?: string;
  token?: string;
  /** Where the settings came from, for messages ("SWIFT_SETTINGS file /x", "OS_* variables"). */
  origin: string;
}

export interface SwiftSession {
  storageUrl: string;
  token?: string;
}

const str = (v: unknown): string | undefined =>
  typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : undefined;

/** Reads the settings as described above; throws INVALID_ARGUMENT when there are none. */
export function loadSwiftSettings(env: NodeJS.ProcessEnv = process.env): SwiftSettings {
  const file = env.SWIFT_SETTINGS;
  if (file) {
    const json = readSecretJson(file, "SWIFT_SETTINGS file");
    return finish(
      {
        authVersion: str(json.auth_version),
        authUrl: str(json.os_auth_url),
        username: str(json.os_username),
        password: str(json.os_password),
        userDomainName: str(json.os_user_domain_name),
        userDomainId: str(json.os_user_domain_id),
        projectId: str(json.os_project_id) ?? str(json.os_tenant_id),
        projectName: str(json.os_project_name) ?? str(json.os_tenant_name),
        projectDomainName: str(json.os_project_domain_name),
        projectDomainId: str(json.os_project_domain_id),
        regionName: str(json.os_region_name),
        storageUrl: str(json.os_storage_url),
        token: str(json.os_auth_token),
      },
      `SWIFT_SETTINGS file ${file}`,
    );
  }
  if (env.OS_AUTH_URL || env.OS_STORAGE_URL || env.OS_AUTH_TOKEN) {
    return finish(
      {
        authVersion: env.OS_IDENTITY_API_VERSION || env.OS_AUTH_VERSION,
        authUrl: env.OS_AUTH_URL,
        username: env.OS_USERNAME,
        password: env.OS_PASSWORD,
        userDomainName: env.OS_USER_DOMAIN_NAME,
        userDomainId: env.OS_USER_DOMAIN_ID,
        projectId: env.OS_PROJECT_ID || env.OS_TENANT_ID,
        projectName: env.OS_PROJECT_NAME || env.OS_TENANT_NAME,
        projectDomainName: env.OS_PROJECT_DOMAIN_NAME,
        projectDomainId: env.OS_PROJECT_DOMAIN_ID,
        regionName: env.OS_REGION_NAME,
        storageUrl: env.OS_STORAGE_URL,
        token: env.OS_AUTH_TOKEN,
      },
      "OS_* environment variables",
    );
  }
  if (env.ST_AUTH) {
    return finish(
      { authVersion: "1", authUrl: env.ST_AUTH, username: env.ST_USER, password: env.ST_KEY },
      "ST_AUTH/ST_USER/ST_KEY environment variables",
    );
  }
  throw new VoxportError(
    "INVALID_ARGUMENT",
    "no OpenStack Swift settings: set SWIFT_SETTINGS to a JSON settings file (chmod 600), or " +
      "the OS_AUTH_URL/OS_USERNAME/OS_PASSWORD/OS_PROJECT_ID variables (or OS_STORAGE_URL alone " +
      "for a public container)",
  );
}

type RawSettings = Omit<SwiftSettings, "authVersion" | "origin"> & { authVersion?: string };

function finish(raw: RawSettings, origin: string): SwiftSettings {
  const v = raw.authVersion?.toLowerCase().replace(/^v/, "");
  let authVersion: SwiftSettings["authVersion"];
  if (v === "1" || v === "1.0") authVersion = "1";
  else if (v === "3" || v === "3.0") authVersion = "3";
  else if (v === undefined || v === "") {
    if (raw.authUrl && raw.username) {
      authVersion = /\/v1(\.0)?\/?$/.test(raw.authUrl) ? "1" : "3";
    } else if (raw.token) authVersion = "token";
    else authVersion = "anonymous";
  } else {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${origin}: unsupported auth_version "${raw.authVersion}" (use "1" for tempauth or "3" for Keystone v3)`,
    );
  }
  if (raw.token && raw.storageUrl && (!raw.username || !raw.password)) authVersion = "token";
  const settings: SwiftSettings = { ...raw, authVersion, origin };
  const missing = (names: string[]) => {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${origin}: Swift auth version ${authVersion} needs ${names.join(", ")}`,
    );
  };
  if (authVersion === "1" || authVersion === "3") {
    const need: string[] = [];
    if (!raw.authUrl) need.push("os_auth_url");
    if (!raw.username) need.push("os_username");
    if (!raw.password) need.push("os_password");
    if (need.length > 0) missing(need);
  }
  if (authVersion === "3" && !raw.projectId && !raw.projectName) {
    missing(["os_project_id or os_project_name"]);
  }
  if ((authVersion === "token" || authVersion === "anonymous") && !raw.storageUrl) {
    missing(["os_storage_url"]);
  }
  return settings;
}

/** The secrets a message must never show. */
export function settingsSecrets(s: SwiftSettings): string[] {
  return [s.password, s.token].filter((x): x is string => x !== undefined);
}

interface CachedSession extends SwiftSession {
  /** ms since epoch; renew a minute before. */
  expiresAt: number;
}

/**
 * Tokens for one identity. `session()` returns a valid one (authenticating at most once at a
 * time), `invalidate(token)` drops it after a 401 so the next call authenticates again.
 */
export class SwiftAuth {
  private current?: CachedSession;
  private pending?: Promise<CachedSession>;
  /** Every token ever issued to this identity, for redaction. */
  private readonly issued: string[] = [];

  constructor(readonly settings: SwiftSettings) {}

  secrets(): string[] {
    return [...settingsSecrets(this.settings), ...this.issued];
  }

  redact(text: string): string {
    return redact(text, this.secrets());
  }

  async session(signal?: AbortSignal): Promise<SwiftSession> {
    const now = Date.now();
    if (this.current !== undefined && this.current.expiresAt - 60_000 > now) return this.current;
    this.pending ??= this.authenticate(signal).finally(() => {
      this.pending = undefined;
    });
    this.current = await this.pending;
    return this.current;
  }

  invalidate(token: string | undefined): void {
    if (this.current !== undefined && this.current.token === token) this.current = undefined;
  }

  private async authenticate(signal?: AbortSignal): Promise<CachedSession> {
    const s = this.settings;
    const far = Date.now() + 365 * 24 * 3600_000;
    switch (s.authVersion) {
      case "anonymous":
        return { storageUrl: trimSlash(s.storageUrl!), expiresAt: far };
      case "token":
        this.issued.push(s.token!);
        return { storageUrl: trimSlash(s.storageUrl!), token: s.token, expiresAt: far };
      case "1":
        return this.tempauth(signal);
      case "3":
        return this.keystone(signal);
    }
  }

  /** v1: GET <auth_url> with X-Auth-User / X-Auth-Key → X-Auth-Token, X-Storage-Url. */
  private async tempauth(signal?: AbortSignal): Promise<CachedSession> {
    const s = this.settings;
    const url = s.authUrl!;
    const response = await this.authRequest(url, signal, {
      method: "GET",
      headers: { "X-Auth-User": s.username!, "X-Auth-Key": s.password! },
    });
    const token = header(response, "x-auth-token") ?? header(response, "x-storage-token");
    const storage = s.storageUrl ?? header(response, "x-storage-url");
    if (token === undefined || storage === undefined) {
      throw new VoxportError(
        "STORAGE",
        `Swift authentication at ${url} (${s.origin}) answered HTTP ${response.status} without a token or storage URL`,
      );
    }
    this.issued.push(token);
    const ttl = Number(header(response, "x-auth-token-expires"));
    const expiresAt =
      Number.isFinite(ttl) && ttl > 0 ? Date.now() + ttl * 1000 : Date.now() + 3600_000;
    return { token, storageUrl: trimSlash(storage), expiresAt };
  }

  /** Keystone v3 password auth scoped to a project (seed-systems.md §5.5). */
  private async keystone(signal?: AbortSignal): Promise<CachedSession> {
    const s = this.settings;
    const base = trimSlash(s.authUrl!);
    const url = `${/\/v3$/.test(base) ? base : `${base}/v3`}/auth/tokens`;
    const domain = (name?: string, id?: string) => (id ? { id } : { name: name ?? "Default" });
    const project = s.projectId
      ? { id: s.projectId }
      : { name: s.projectName, domain: domain(s.projectDomainName, s.projectDomainId) };
    const body = JSON.stringify({
      auth: {
        identity: {
          methods: ["password"],
          password: {
            user: {
              name: s.username,
              domain: domain(s.userDomainName, s.userDomainId),
              password: s.password,
            },
          },
        },
        scope: { project },
      },
    });
    const response = await this.authRequest(url, signal, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: new TextEncoder().encode(body),
    });
    const token = header(response, "x-subject-token");
    if (token === undefined) {
      throw new VoxportError(
        "STORAGE",
        `Keystone at ${url} (${s.origin}) answered HTTP ${response.status} without X-Subject-Token`,
      );
    }
    this.issued.push(token);
    let parsed: KeystoneTokenBody = {};
    try {
      parsed = JSON.parse(response.body.toString("utf8")) as KeystoneTokenBody;
    } catch {
      /* a body we cannot read only matters when we need the catalog */
    }
    const expires = Date.parse(parsed.token?.expires_at ?? "");
    const storage = s.storageUrl ?? objectStoreEndpoint(parsed, s.regionName);
    if (storage === undefined) {
      throw new VoxportError(
        "STORAGE",
        `Keystone at ${url} (${s.origin}): the token's catalog has no public object-store ` +
          `endpoint${s.regionName ? ` in region ${s.regionName}` : ""}; set os_storage_url`,
      );
    }
    return {
      token,
      storageUrl: trimSlash(storage),
      expiresAt: Number.isNaN(expires) ? Date.now() + 3600_000 : expires,
    };
  }

  private authRequest(
    url: string,
    signal: AbortSignal | undefined,
    init: { method: string; headers: Record<string, string>; body?: Uint8Array },
  ): Promise<RawResponse> {
    const s = this.settings;
    return withRetries(
      `cannot authenticate to Swift at ${url}`,
      async (attemptSignal) => {
        let response: RawResponse;
        try {
          response = await rawRequest(url, { ...init, signal: attemptSignal });
        } catch (e) {
          // Network errors carry no request headers, but be safe about the message anyway.
          throw new Error(this.redact(e instanceof Error ? e.message : String(e)), { cause: e });
        }
        if (response.status >= 200 && response.status < 300) return response;
        if (isRetryableStatus(response.status)) {
          throw new RetryableError(
            `HTTP ${response.status}`,
            retryAfterMs(header(response, "retry-after")),
          );
        }
        if (response.status === 401 || response.status === 403) {
          throw new VoxportError(
            "STORAGE",
            `Swift authentication failed at ${url}: HTTP ${response.status} for user ` +
              `"${s.username}" — check the user name, password${s.authVersion === "3" ? " and project" : ""} in ${s.origin}`,
          );
        }
        throw new VoxportError(
          "STORAGE",
          this.redact(`Swift authentication at ${url} failed: HTTP ${response.status}`),
        );
      },
      { signal },
    );
  }
}

interface KeystoneTokenBody {
  token?: {
    expires_at?: string;
    catalog?: Array<{
      type?: string;
      endpoints?: Array<{ interface?: string; region?: string; region_id?: string; url?: string }>;
    }>;
  };
}

function objectStoreEndpoint(body: KeystoneTokenBody, region?: string): string | undefined {
  for (const service of body.token?.catalog ?? []) {
    if (service.type !== "object-store") continue;
    for (const ep of service.endpoints ?? []) {
      if (ep.interface !== "public") continue;
      if (region && ep.region !== region && ep.region_id !== region) continue;
      if (ep.url) return ep.url;
    }
  }
  return undefined;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

const sessions = new Map<string, SwiftAuth>();

/** One SwiftAuth per identity per process, so every store opened with it shares one token. */
export function swiftAuthFor(settings: SwiftSettings): SwiftAuth {
  const id = JSON.stringify([
    settings.authVersion,
    settings.authUrl,
    settings.username,
    settings.password,
    settings.projectId,
    settings.projectName,
    settings.userDomainName,
    settings.storageUrl,
    settings.token,
  ]);
  let auth = sessions.get(id);
  if (auth === undefined) {
    auth = new SwiftAuth(settings);
    sessions.set(id, auth);
  }
  return auth;
}
