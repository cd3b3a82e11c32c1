import { InvalidArgumentError } from "commander";
import type { Vec3 } from "../ops/array.js";

/** Parsers for CLI values; each error names what it expected. */

export function parseVec3(what: string, opts: { positive?: boolean; integer?: boolean } = {}) {
  return (value: string): Vec3 => {
    const parts = value.split(/[,x]/).map((s) => s.trim());
    const nums = parts.map(Number);
    if (nums.length !== 3 || nums.some((n) => !Number.isFinite(n))) {
      throw new InvalidArgumentError(`${what} must be three numbers like 4,4,40 (got "${value}")`);
    }
    if (opts.integer && nums.some((n) => !Number.isInteger(n))) {
      throw new InvalidArgumentError(`${what} must be whole numbers (got "${value}")`);
    }
    if (opts.positive && nums.some((n) => n <= 0)) {
      throw new InvalidArgumentError(`${what} must be positive (got "${value}")`);
    }
    return nums as Vec3;
  };
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  tib: 1024 ** 4,
};

export function parseBytes(value: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new InvalidArgumentError(`expected a size like 2GiB, 512MB or 1e9 (got "${value}")`);
  }
  const n = Number(m[1]) * unit;
  if (!(n > 0)) throw new InvalidArgumentError(`size must be positive (got "${value}")`);
  return Math.floor(n);
}

export function parseIntIn(what: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${what} must be a whole number from ${min} to ${max} (got "${value}")`,
      );
    }
    return n;
  };
}

export function parseRatio(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError(`expected a fraction from 0 to 1 (got "${value}")`);
  }
  return n;
}

/** "x0,y0,z0:x1,y1,z1" (half-open) */
export function parseBoxArg(value: string): { min: Vec3; max: Vec3 } {
  const [a, b] = value.split(":");
  if (!a || !b)
    throw new InvalidArgumentError(`a box is MIN:MAX like 0,0,0:512,512,16 (got "${value}")`);
  const min = parseVec3("box min", { integer: true })(a);
  const max = parseVec3("box max", { integer: true })(b);
  if (min.some((v, d) => max[d] <= v)) {
    throw new InvalidArgumentError(`box max must exceed min on every axis (got "${value}")`);
  }
  return { min, max };
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
