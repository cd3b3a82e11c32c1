import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { OAuth2Client } from "google-auth-library";
import { VoxportError } from "../errors.js";
import { checkSecretFile } from "../storage/credentials.js";

/**
 * Who may call the service: a static list of bearer tokens (a private file, one per line, or
 * the VOXPORT_SERVE_TOKENS variable, comma-separated), and/or Google identity tokens (what
 * `gcloud auth print-identity-token` and Cloud Run / Pub/Sub push send) for one audience.
 *
 * Static tokens are compared as SHA-256 digests with timingSafeEqual, against every token in
 * the list (no early exit), so the time taken says nothing about how close a guess was.
 * Identity tokens are RS256 JWTs checked against Google's signing certificates (or
 * `certs`, a URL or file, for tests and air-gapped setups): signature, expiry, issuer, audience,
 * and optionally the caller's e-mail.
 */

export const GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs";
const GOOGLE_ISSUERS = ["accounts.google.com", "https://accounts.google.com"];
const CERTS_TTL_MS = 3600_000;

export interface AuthOptions {
  /** Static bearer tokens. */
  tokens?: string[];
  /** Verify Google identity tokens issued for this audience (the service URL). */
  audience?: string;
  /** PEM certificates as `{kid: pem}` JSON: an https URL or a file. Default Google's. */
  certs?: string;
  /** When set, identity tokens must belong to one of these e-mails (service accounts). */
  emails?: string[];
  /** Accept identity tokens from these issuers (default Google's). */
  issuers?: string[];
}

/** Reads a token file: one token per line, `#` comments; refused when group/others can read it. */
export async function readTokenFile(path: string): Promise<string[]> {
  checkSecretFile(path, "token file");
  const text = await readFile(path, "utf8");
  const tokens = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  if (tokens.length === 0)
    throw new VoxportError("INVALID_ARGUMENT", `token file ${path} is empty`);
  if (tokens.some((t) => t.length < 16)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `token file ${path}: every token must be at least 16 characters (use e.g. \`openssl rand -hex 32\`)`,
    );
  }
  return tokens;
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

export class Authenticator {
  private readonly digests: Buffer[];
  private readonly client = new OAuth2Client();
  private certs?: { at: number; value: Promise<Record<string, string>> };

  constructor(private readonly o: AuthOptions) {
    this.digests = (o.tokens ?? []).map(digest);
    if (this.digests.length === 0 && o.audience === undefined) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        "no way to authenticate callers: give --token-file, VOXPORT_SERVE_TOKENS or --id-token-audience (or --insecure-no-auth for local tests)",
      );
    }
  }

  private staticMatch(token: string): boolean {
    const d = digest(token);
    let ok = false;
    for (const known of this.digests) ok = timingSafeEqual(d, known) || ok;
    return ok;
  }

  private loadCerts(): Promise<Record<string, string>> {
    const now = Date.now();
    if (this.certs && now - this.certs.at < CERTS_TTL_MS) return this.certs.value;
    const where = this.o.certs ?? GOOGLE_CERTS_URL;
    const value = (async () => {
      const text = /^https?:\/\//.test(where)
        ? await (async () => {
            const r = await fetch(where, { signal: AbortSignal.timeout(10_000) });
            if (!r.ok) throw new Error(`GET ${where}: HTTP ${r.status}`);
            return r.text();
          })()
        : await readFile(where, "utf8");
      return JSON.parse(text) as Record<string, string>;
    })();
    this.certs = { at: now, value };
    value.catch(() => {
      if (this.certs?.value === value) this.certs = undefined;
    });
    return value;
  }

  private async identityMatch(token: string): Promise<boolean> {
    if (this.o.audience === undefined || token.split(".").length !== 3) return false;
    try {
      const ticket = await this.client.verifySignedJwtWithCertsAsync(
        token,
        await this.loadCerts(),
        this.o.audience,
        this.o.issuers ?? GOOGLE_ISSUERS,
      );
      const payload = ticket.getPayload();
      if (this.o.emails?.length) {
        return (
          payload?.email !== undefined &&
          payload.email_verified !== false &&
          this.o.emails.includes(payload.email)
        );
      }
      return true;
    } catch {
      // Why a token failed (expired, wrong audience, bad signature) is not told to the caller.
      return false;
    }
  }

  /** True when the Authorization header carries an accepted token. */
  async check(header: string | undefined): Promise<boolean> {
    if (header === undefined) return false;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return false;
    const token = m[1];
    if (this.digests.length > 0 && this.staticMatch(token)) return true;
    return this.identityMatch(token);
  }
}
