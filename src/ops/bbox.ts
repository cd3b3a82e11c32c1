import type { Vec3 } from "./array.js";

/** A half-open box [min, max) in voxel coordinates of one scale (voxel_offset included). */
export interface Box {
  min: Vec3;
  max: Vec3;
}

export function box(min: Vec3, max: Vec3): Box {
  return { min: [...min] as Vec3, max: [...max] as Vec3 };
}

export function boxShape(b: Box): Vec3 {
  return [b.max[0] - b.min[0], b.max[1] - b.min[1], b.max[2] - b.min[2]];
}

export function boxVolume(b: Box): number {
  const s = boxShape(b);
  return Math.max(0, s[0]) * Math.max(0, s[1]) * Math.max(0, s[2]);
}

export function isEmptyBox(b: Box): boolean {
  return b.max[0] <= b.min[0] || b.max[1] <= b.min[1] || b.max[2] <= b.min[2];
}

export function intersect(a: Box, b: Box): Box {
  return {
    min: [Math.max(a.min[0], b.min[0]), Math.max(a.min[1], b.min[1]), Math.max(a.min[2], b.min[2])],
    max: [Math.min(a.max[0], b.max[0]), Math.min(a.max[1], b.max[1]), Math.min(a.max[2], b.max[2])],
  };
}

export function containsBox(outer: Box, inner: Box): boolean {
  for (let d = 0; d < 3; d++) {
    if (inner.min[d] < outer.min[d] || inner.max[d] > outer.max[d]) return false;
  }
  return true;
}

export function boxToString(b: Box): string {
  return `[${b.min.join(",")}]-[${b.max.join(",")}]`;
}
