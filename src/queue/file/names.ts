/**
 * File names of the fq:// queue. A task's state is where its entry is and what its name says:
 *
 *   q/<ts>~<stage>~<attempt>~<token>~<loc>~<id>   ready when ts ≤ now; token "-" = not leased.
 *                                                Leased: ts is the lease's expiry, so an
 *                                                expired lease is simply ready again
 *                                                (python-task-queue's FileQueue).
 *   done/<stage>/<id>                            completed
 *   dead/<stage>~<loc>~<id>                      dead-lettered (its error in errors/<id>)
 *
 * Every entry is a hard link to the batch file that holds the task's message; `loc` is
 * "<offset>.<length>" of the message in it. `ts` is a 13-digit, zero-padded millisecond time,
 * so names sort by it.
 */

export const FREE = "-";

export interface QName {
  ts: number;
  stage: number;
  attempt: number;
  token: string;
  loc: string;
  id: string;
}

export function pad(ts: number): string {
  return String(Math.max(0, Math.floor(ts))).padStart(13, "0");
}

export function qName(n: QName): string {
  return `${pad(n.ts)}~${n.stage}~${n.attempt}~${n.token}~${n.loc}~${n.id}`;
}

export function parseQName(name: string): QName | undefined {
  const parts = name.split("~");
  if (parts.length !== 6) return undefined;
  const ts = Number(parts[0]);
  const stage = Number(parts[1]);
  const attempt = Number(parts[2]);
  if (!Number.isFinite(ts) || !Number.isInteger(stage) || !Number.isInteger(attempt)) {
    return undefined;
  }
  return { ts, stage, attempt, token: parts[3], loc: parts[4], id: parts[5] };
}

/** The time encoded in a q/ name, without parsing the rest (hot path). */
export function tsOf(name: string): number {
  return Number(name.slice(0, 13));
}

export function parseLoc(loc: string): { offset: number; length: number } | undefined {
  const [o, l] = loc.split(".");
  const offset = Number(o);
  const length = Number(l);
  return Number.isInteger(offset) && Number.isInteger(length) ? { offset, length } : undefined;
}

export interface DeadName {
  stage: number;
  loc: string;
  id: string;
}

export function deadName(d: DeadName): string {
  return `${d.stage}~${d.loc}~${d.id}`;
}

export function parseDeadName(name: string): DeadName | undefined {
  const parts = name.split("~");
  if (parts.length !== 3) return undefined;
  const stage = Number(parts[0]);
  return Number.isInteger(stage) ? { stage, loc: parts[1], id: parts[2] } : undefined;
}
