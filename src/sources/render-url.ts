import { VoxportError } from "../errors.js";

/**
 * `render://host[:port]/owner/project/stack[?channel=&scale=&minIntensity=&maxIntensity=&bits=]`
 * names a stack of a render-ws server (saalfeldlab/render), read through its box API under
 * `<protocol>://host[:port]/render-ws/v1/`. Extra query keys: `bits=16` reads `png16-image`
 * (uint16; default 8, `png-image`, uint8), `protocol=http` for servers without TLS (render-ws
 * often runs on plain HTTP port 8080 inside a lab; default https), `tile=N` the largest box
 * fetched at once, in output pixels (default 4096).
 */
export interface RenderUrl {
  /** `…/render-ws/v1/` with the trailing slash. */
  base: string;
  owner: string;
  project: string;
  stack: string;
  channel?: string;
  scale: number;
  minIntensity?: number;
  maxIntensity?: number;
  bits: 8 | 16;
  tile: number;
}

const KEYS = ["channel", "scale", "minIntensity", "maxIntensity", "bits", "protocol", "tile"];

export function parseRenderUrl(input: string): RenderUrl {
  const bad = (why: string) =>
    new VoxportError(
      "INVALID_ARGUMENT",
      `${input}: ${why} (render://host[:port]/owner/project/stack[?channel=&scale=&minIntensity=&maxIntensity=&bits=16])`,
    );
  let u: URL;
  try {
    u = new URL(input);
  } catch {
    throw bad("not a URL");
  }
  if (u.protocol !== "render:") throw bad("not a render:// URL");
  const parts = u.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (!u.host || parts.length !== 3) throw bad("expected host, owner, project and stack");
  for (const k of u.searchParams.keys()) {
    if (!KEYS.includes(k)) throw bad(`unknown query key "${k}" (known: ${KEYS.join(", ")})`);
  }
  const q = (k: string) => u.searchParams.get(k) ?? undefined;
  const num = (k: string, check: (n: number) => boolean): number | undefined => {
    const v = q(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || !check(n)) throw bad(`${k}=${v} is out of range`);
    return n;
  };
  const protocol = q("protocol") ?? "https";
  if (protocol !== "http" && protocol !== "https") throw bad(`protocol=${protocol}`);
  const bits = num("bits", (n) => n === 8 || n === 16) ?? 8;
  const minIntensity = num("minIntensity", () => true);
  const maxIntensity = num("maxIntensity", () => true);
  if ((minIntensity === undefined) !== (maxIntensity === undefined)) {
    throw bad("minIntensity and maxIntensity go together");
  }
  return {
    base: `${protocol}://${u.host}/render-ws/v1/`,
    owner: parts[0],
    project: parts[1],
    stack: parts[2],
    channel: q("channel"),
    scale: num("scale", (n) => n > 0 && n <= 1) ?? 1,
    minIntensity,
    maxIntensity,
    bits: bits as 8 | 16,
    tile: num("tile", (n) => Number.isInteger(n) && n >= 16) ?? 4096,
  };
}
