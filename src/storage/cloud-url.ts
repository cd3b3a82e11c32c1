import { VoxportError } from "../errors.js";
import { checkPrefix } from "./keys.js";

/**
 * `scheme://bucket/prefix?option=value` for the bucket-style stores (s3, gs, swift), parsed the
 * same way by the registry (at open time, without loading any SDK) and by the drivers.
 * The query carries connection options (e.g. `?endpoint=http://127.0.0.1:9000` for an
 * S3-compatible store), never credentials; the store's `url` leaves it out.
 */
export interface BucketUrl {
  scheme: string;
  bucket: string;
  /** "" or a key prefix without leading/trailing '/'. */
  prefix: string;
  /** Object-name prefix of the store root: "" or `${prefix}/`. */
  root: string;
  options: URLSearchParams;
  /** Normalised: `scheme://bucket[/prefix]`, no trailing slash, no query. */
  url: string;
}

export function parseBucketUrl(url: string, scheme: string, bucketWord: string): BucketUrl {
  const m = new RegExp(`^${scheme}://([^/?#]*)(?:/([^?#]*))?(?:\\?([^#]*))?$`, "i").exec(url);
  if (m === null || m[1] === "") {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `invalid ${scheme} URL ${JSON.stringify(url)}: expected ${scheme}://${bucketWord}/prefix`,
    );
  }
  const bucket = decodeURIComponent(m[1]);
  const prefix = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (prefix !== "") checkPrefix(`${scheme}://${bucket}`, prefix);
  return {
    scheme,
    bucket,
    prefix,
    root: prefix === "" ? "" : `${prefix}/`,
    options: new URLSearchParams(m[3] ?? ""),
    url: `${scheme}://${bucket}${prefix === "" ? "" : `/${prefix}`}`,
  };
}

/** A boolean option from the URL query or the environment ("1", "true", "yes"). */
export function flag(value: string | null | undefined): boolean | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  return /^(1|true|yes|on)$/i.test(value);
}
