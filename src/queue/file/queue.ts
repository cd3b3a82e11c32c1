import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { VoxportError } from "../../errors.js";
import type {
  CompleteOptions,
  CompleteResult,
  DeadTask,
  FailOptions,
  FailOutcome,
  Lease,
  Queue,
  QueueItem,
  QueueOptions,
  QueueStats,
  StageCounts,
} from "../queue.js";
import { TASK_ID } from "../queue.js";
import {
  deadName,
  FREE,
  parseDeadName,
  parseLoc,
  parseQName,
  type QName,
  qName,
  tsOf,
} from "./names.js";
import { BATCH, errno, placeBatch, token } from "./place.js";
import { PlacePool, THREADED_MIN } from "./place-pool.js";

/**
 * `fq://PATH`: a queue that is a directory, for one machine or an HPC cluster with a shared
 * filesystem, with no server. After python-task-queue's FileQueue (requirements first:
 * serverless, durable, timed leases, renewal, parallel-safe, recirculating, millions of tasks),
 * with these choices:
 *
 * - Every state change is one `rename(2)`, atomic on POSIX filesystems (NFS, Lustre, GPFS,
 *   CephFS included): two workers racing for a task both rename the same name and exactly one
 *   succeeds; the other gets ENOENT. A lease renames `q/<ts>~…~-~…` to a name carrying the
 *   lease's expiry and a fresh token; renewing renames it again; completing renames it into
 *   `done/`. A worker whose lease expired and was taken finds its name gone: the lease is lost.
 * - No file per task: an enqueue writes its messages into one batch file, and each task's
 *   entries are hard links to it (names say where its message is). Creating inodes is what
 *   makes a million-task enqueue slow on a shared filesystem; a link is a directory entry.
 *   The batch file lives as long as any of its tasks' entries (the filesystem counts links).
 * - Dedupe by id: after placing a task in q/, the enqueuer links `ids/<hash>/<id>`; if that name
 *   exists the id was known, and the new entry is taken back. Placing before claiming means a
 *   crash between the two steps leaves a task that runs, never one that is lost; the price is a
 *   duplicate run in that rare case (tasks are idempotent; done counts are by name, so exact).
 * - Dependencies: `deps/<parent>/<child>` marker files; the completer that finds the set full
 *   enqueues the parent, and the `ids/` claim makes that happen once.
 * - Metadata operations are synchronous (each is microseconds; going through libuv's thread
 *   pool costs more than the call). Only big directory listings are asynchronous.
 * - Lease expiry compares the machines' clocks: keep them in sync (NTP), as for any shared FS.
 *   The filesystem must support hard links and atomic rename (object-store FUSE mounts such as
 *   gcsfuse or s3fs do not).
 */

/** Ready tasks a lease picks among at random, so workers do not all race for the same name. */
const PICK_WINDOW = 64;

export class FileQueue implements Queue {
  private readonly q: string;
  private readonly madeDirs = new Set<string>();
  private cache: string[] = [];
  private cachePos = 0;
  private firstDoneMarked = false;
  private readonly placer = new PlacePool();

  private constructor(
    readonly url: string,
    readonly root: string,
    private readonly options: Required<QueueOptions>,
  ) {
    this.q = join(root, "q");
    for (const d of ["batches", "ids", "q", "done", "dead", "errors", "deps", "meta"]) {
      mkdirSync(join(root, d), { recursive: true });
    }
  }

  static open(url: string, options: Required<QueueOptions>): FileQueue {
    const path = url.replace(/^fq:\/\//i, "").replace(/\?.*$/, "");
    if (!path) throw new VoxportError("INVALID_ARGUMENT", `queue URL ${url} names no directory`);
    return new FileQueue(url, resolve(decodeURIComponent(path)), options);
  }

  private dir(...parts: string[]): string {
    const d = join(this.root, ...parts);
    if (!this.madeDirs.has(d)) {
      mkdirSync(d, { recursive: true });
      this.madeDirs.add(d);
    }
    return d;
  }

  // ---- enqueue -------------------------------------------------------------------------------

  /** Writes one batch file and places its tasks; returns how many ids were new. */
  private placeBatch(items: readonly QueueItem[]): number {
    return placeBatch(this.root, items, this.madeDirs);
  }

  async enqueue(items: readonly QueueItem[]): Promise<number> {
    const unique = new Map<string, QueueItem>();
    for (const item of items) {
      if (!TASK_ID.test(item.id)) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          `task id ${JSON.stringify(item.id)} is not valid`,
        );
      }
      if (!unique.has(item.id)) unique.set(item.id, item);
    }
    const list = [...unique.values()];
    if (list.length >= THREADED_MIN) {
      return this.placer.place(this.root, list);
    }
    let n = 0;
    for (let i = 0; i < list.length; i += BATCH) n += this.placeBatch(list.slice(i, i + BATCH));
    return n;
  }

  // ---- lease ---------------------------------------------------------------------------------

  private async refresh(): Promise<void> {
    this.cache = (await readdir(this.q)).sort();
    this.cachePos = 0;
  }

  /** Next candidate name from the sorted listing, chosen at random among the first ready ones. */
  private nextCandidate(now: number): string | undefined {
    let ready = 0;
    while (ready < PICK_WINDOW && this.cachePos + ready < this.cache.length) {
      if (tsOf(this.cache[this.cachePos + ready]) > now) break;
      ready++;
    }
    if (ready === 0) return undefined;
    const j = this.cachePos + Math.floor(Math.random() * ready);
    const name = this.cache[j];
    this.cache[j] = this.cache[this.cachePos];
    this.cachePos++;
    return name;
  }

  private tryLease(max: number, leaseMs: number, out: Lease[]): void {
    const now = Date.now();
    while (out.length < max) {
      const name = this.nextCandidate(now);
      if (name === undefined) return;
      const n = parseQName(name);
      if (!n) continue;
      if (n.token !== FREE && n.attempt >= this.options.maxLeases) {
        this.expireToDead(name, n);
        continue;
      }
      const lease: QName = { ...n, ts: now + leaseMs, attempt: n.attempt + 1, token: token() };
      const leased = qName(lease);
      try {
        renameSync(join(this.q, name), join(this.q, leased));
      } catch (e) {
        if (errno(e) === "ENOENT") continue; // someone else took it
        throw e;
      }
      out.push({
        id: n.id,
        stage: n.stage,
        body: this.readBody(join(this.q, leased), n.loc),
        token: lease.token,
        attempt: lease.attempt,
        expiresAt: lease.ts,
        handle: leased,
      });
    }
  }

  private readBody(path: string, loc: string): string {
    const l = parseLoc(loc);
    if (!l) return "";
    const fd = openSync(path, "r");
    try {
      const buf = Buffer.alloc(l.length);
      let got = 0;
      while (got < l.length) {
        const k = readSync(fd, buf, got, l.length - got, l.offset + got);
        if (k === 0) break;
        got += k;
      }
      return buf.toString("utf8", 0, got);
    } finally {
      closeSync(fd);
    }
  }

  private expireToDead(name: string, n: QName): void {
    const error = `lease expired ${n.attempt} times without the task finishing (its workers died?)`;
    this.writeError(n.id, error, n.attempt);
    try {
      renameSync(join(this.q, name), join(this.dir("dead"), deadName(n)));
    } catch (e) {
      if (errno(e) !== "ENOENT") throw e;
    }
  }

  async lease(max: number, leaseMs: number, waitMs = 0): Promise<Lease[]> {
    const deadline = Date.now() + waitMs;
    let delay = 50;
    const out: Lease[] = [];
    for (;;) {
      this.tryLease(max, leaseMs, out);
      if (out.length < max) {
        // The listing is a snapshot: tasks enqueued or released since are only seen in a new one.
        await this.refresh();
        this.tryLease(max, leaseMs, out);
      }
      const left = deadline - Date.now();
      if (out.length > 0 || left <= 0) return out;
      // Jittered exponential backoff between listings: idle workers do not poll in step.
      await new Promise((r) => setTimeout(r, Math.min(left, delay * (0.5 + Math.random()))));
      delay = Math.min(delay * 2, 1000);
    }
  }

  // ---- holding a lease -----------------------------------------------------------------------

  private moveLease(lease: Lease, to: string): boolean {
    try {
      renameSync(join(this.q, lease.handle as string), to);
      return true;
    } catch (e) {
      if (errno(e) === "ENOENT") return false;
      throw e;
    }
  }

  private locOf(lease: Lease): string {
    return parseQName(lease.handle as string)?.loc ?? "0.0";
  }

  async renew(lease: Lease, leaseMs: number): Promise<boolean> {
    const ts = Date.now() + leaseMs;
    const next = qName({
      ts,
      stage: lease.stage,
      attempt: lease.attempt,
      token: lease.token,
      loc: this.locOf(lease),
      id: lease.id,
    });
    if (!this.moveLease(lease, join(this.q, next))) return false;
    lease.handle = next;
    lease.expiresAt = ts;
    return true;
  }

  async renewMany(leases: readonly Lease[], leaseMs: number): Promise<boolean[]> {
    const out: boolean[] = [];
    for (const l of leases) out.push(await this.renew(l, leaseMs));
    return out;
  }

  async complete(lease: Lease, options: CompleteOptions = {}): Promise<CompleteResult> {
    // Parents first: if this process dies after this step, the task's lease expires, it runs
    // again, and the enqueue below (deduped) happens again. The reverse order could lose a parent.
    const released: string[] = [];
    for (const p of options.parents ?? []) {
      const d = join(this.root, "deps", p.item.id);
      for (let tries = 0; ; tries++) {
        try {
          mkdirSync(d, { recursive: true });
          writeFileSync(join(d, lease.id), "");
          break;
        } catch (e) {
          // The parent was just released and its folder removed by another completer.
          if (errno(e) !== "ENOENT" || tries > 2) throw e;
        }
      }
      if (readdirSync(d).length >= p.expected) {
        if (this.placeBatch([p.item]) === 1) released.push(p.item.id);
        rmSync(d, { recursive: true, force: true });
      }
    }
    if (!this.moveLease(lease, join(this.dir("done", String(lease.stage)), lease.id))) {
      return { ok: false, released };
    }
    if (!this.firstDoneMarked) {
      this.firstDoneMarked = true;
      try {
        writeFileSync(join(this.root, "meta", "~first-done"), String(Date.now()), { flag: "wx" });
      } catch (e) {
        if (errno(e) !== "EEXIST") throw e;
      }
    }
    return { ok: true, released };
  }

  private writeError(id: string, error: string, attempt: number): void {
    writeFileSync(
      join(this.root, "errors", id),
      JSON.stringify({ error, attempt, at: Date.now() }),
    );
  }

  async fail(lease: Lease, error: string, options: FailOptions): Promise<FailOutcome> {
    this.writeError(lease.id, error, lease.attempt);
    if (options.retryable && lease.attempt < this.options.maxAttempts) {
      const ts = Date.now() + (options.delayMs ?? this.options.retryDelayMs);
      const next = qName({
        ts,
        stage: lease.stage,
        attempt: lease.attempt,
        token: FREE,
        loc: this.locOf(lease),
        id: lease.id,
      });
      return this.moveLease(lease, join(this.q, next)) ? "retry" : "lost";
    }
    const dead = deadName({ stage: lease.stage, loc: this.locOf(lease), id: lease.id });
    return this.moveLease(lease, join(this.dir("dead"), dead)) ? "dead" : "lost";
  }

  async release(lease: Lease): Promise<boolean> {
    const next = qName({
      ts: Date.now(),
      stage: lease.stage,
      attempt: Math.max(0, lease.attempt - 1),
      token: FREE,
      loc: this.locOf(lease),
      id: lease.id,
    });
    return this.moveLease(lease, join(this.q, next));
  }

  // ---- operating -----------------------------------------------------------------------------

  async stats(): Promise<QueueStats> {
    const now = Date.now();
    const stages = new Map<number, StageCounts>();
    const at = (stage: number) => {
      let c = stages.get(stage);
      if (!c) {
        c = { stage, enqueued: 0, pending: 0, delayed: 0, leased: 0, done: 0, dead: 0 };
        stages.set(stage, c);
      }
      return c;
    };
    for (const name of await readdir(this.q)) {
      const n = parseQName(name);
      if (!n) continue;
      const c = at(n.stage);
      if (n.token !== FREE) c.leased++;
      else if (n.ts > now) c.delayed++;
      else c.pending++;
    }
    let lastDoneAt: number | undefined;
    for (const s of readdirSync(join(this.root, "done"))) {
      const stage = Number(s);
      if (!Number.isInteger(stage)) continue;
      const dir = join(this.root, "done", s);
      const count = (await readdir(dir)).length;
      at(stage).done += count;
      if (count) lastDoneAt = Math.max(lastDoneAt ?? 0, statSync(dir).mtimeMs);
    }
    for (const name of readdirSync(join(this.root, "dead"))) {
      const d = parseDeadName(name);
      if (d) at(d.stage).dead++;
    }
    for (const c of stages.values())
      c.enqueued = c.pending + c.delayed + c.leased + c.done + c.dead;
    let firstDoneAt: number | undefined;
    try {
      firstDoneAt = Number(readFileSync(join(this.root, "meta", "~first-done"), "utf8"));
    } catch {
      firstDoneAt = undefined;
    }
    return {
      stages: [...stages.values()].sort((a, b) => a.stage - b.stage),
      firstDoneAt,
      lastDoneAt,
    };
  }

  async deadLetters(limit = 100): Promise<DeadTask[]> {
    const out: DeadTask[] = [];
    for (const name of readdirSync(join(this.root, "dead")).sort()) {
      if (out.length >= limit) break;
      const d = parseDeadName(name);
      if (!d) continue;
      let error = "";
      let attempt = 0;
      try {
        const e = JSON.parse(readFileSync(join(this.root, "errors", d.id), "utf8"));
        error = e.error;
        attempt = e.attempt;
      } catch {
        /* the error record is informational */
      }
      out.push({ id: d.id, stage: d.stage, error, attempt });
    }
    return out;
  }

  async retryFailed(): Promise<number> {
    let n = 0;
    const now = Date.now();
    for (const name of readdirSync(join(this.root, "dead"))) {
      const d = parseDeadName(name);
      if (!d) continue;
      const next = qName({
        ts: now,
        stage: d.stage,
        attempt: 0,
        token: FREE,
        loc: d.loc,
        id: d.id,
      });
      try {
        renameSync(join(this.root, "dead", name), join(this.q, next));
        rmSync(join(this.root, "errors", d.id), { force: true });
        n++;
      } catch (e) {
        if (errno(e) !== "ENOENT") throw e;
      }
    }
    return n;
  }

  async releaseAll(): Promise<number> {
    let n = 0;
    const now = Date.now();
    for (const name of await readdir(this.q)) {
      const q = parseQName(name);
      if (!q || q.token === FREE) continue;
      try {
        renameSync(join(this.q, name), join(this.q, qName({ ...q, ts: now, token: FREE })));
        n++;
      } catch (e) {
        if (errno(e) !== "ENOENT") throw e;
      }
    }
    return n;
  }

  async purge(): Promise<void> {
    for (const d of ["q", "done", "dead", "errors", "deps", "meta", "ids", "batches"]) {
      rmSync(join(this.root, d), { recursive: true, force: true });
      mkdirSync(join(this.root, d), { recursive: true });
    }
    this.madeDirs.clear();
    this.cache = [];
    this.cachePos = 0;
    this.firstDoneMarked = false;
  }

  async setMeta(key: string, value: string): Promise<void> {
    const tmp = join(this.root, "meta", `.${key}.${token()}`);
    writeFileSync(tmp, value);
    renameSync(tmp, join(this.root, "meta", encodeURIComponent(key)));
  }

  async getMeta(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const name of readdirSync(join(this.root, "meta"))) {
      if (name.startsWith(".") || name.startsWith("~")) continue;
      try {
        out[decodeURIComponent(name)] = readFileSync(join(this.root, "meta", name), "utf8");
      } catch {
        /* replaced while we listed */
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.placer.close();
  }
}
