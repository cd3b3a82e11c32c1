import { randomUUID } from "node:crypto";
import { VoxportError } from "../errors.js";
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
} from "./queue.js";
import { TASK_ID } from "./queue.js";

/**
 * `mem://NAME`: a queue in this process's memory, shared by every opener of the same name. The
 * reference behaviour the other backends are checked against, and a way to run the worker loop
 * without any server (tests). Nothing survives the process.
 */

type State = "pending" | "delayed" | "leased" | "done" | "dead";

interface Entry {
  item: QueueItem;
  state: State;
  attempt: number;
  token?: string;
  /** pending/delayed: visible from; leased: expires at. */
  at: number;
  error?: string;
}

class MemoryStore {
  readonly entries = new Map<string, Entry>();
  readonly deps = new Map<string, Set<string>>();
  readonly meta = new Map<string, string>();
  firstDoneAt?: number;
  lastDoneAt?: number;
  waiters = new Set<() => void>();

  wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }
}

const stores = new Map<string, MemoryStore>();

export function openMemoryQueue(url: string, options: Required<QueueOptions>): MemoryQueue {
  const name = url.replace(/^mem:\/\//i, "").replace(/\?.*$/, "");
  let store = stores.get(name);
  if (!store) {
    store = new MemoryStore();
    stores.set(name, store);
  }
  return new MemoryQueue(url, store, options);
}

export class MemoryQueue implements Queue {
  constructor(
    readonly url: string,
    private readonly s: MemoryStore,
    private readonly options: Required<QueueOptions>,
  ) {}

  private add(item: QueueItem): boolean {
    if (!TASK_ID.test(item.id)) {
      throw new VoxportError("INVALID_ARGUMENT", `task id ${JSON.stringify(item.id)} is not valid`);
    }
    if (this.s.entries.has(item.id)) return false;
    this.s.entries.set(item.id, { item, state: "pending", attempt: 0, at: 0 });
    return true;
  }

  async enqueue(items: readonly QueueItem[]): Promise<number> {
    let n = 0;
    for (const item of items) if (this.add(item)) n++;
    if (n) this.s.wake();
    return n;
  }

  /** Expired leases back to pending (or dead past maxLeases), due retries to pending. */
  private sweep(now: number): void {
    for (const e of this.s.entries.values()) {
      if (e.state === "leased" && e.at <= now) {
        e.token = undefined;
        if (e.attempt >= this.options.maxLeases) {
          e.state = "dead";
          e.error = `lease expired ${e.attempt} times without the task finishing (its workers died?)`;
        } else {
          e.state = "pending";
          e.at = 0;
        }
      } else if (e.state === "delayed" && e.at <= now) {
        e.state = "pending";
      }
    }
  }

  private take(max: number, leaseMs: number): Lease[] {
    const now = Date.now();
    this.sweep(now);
    const out: Lease[] = [];
    for (const e of this.s.entries.values()) {
      if (out.length >= max) break;
      if (e.state !== "pending") continue;
      e.state = "leased";
      e.attempt++;
      e.token = randomUUID();
      e.at = now + leaseMs;
      out.push({
        id: e.item.id,
        stage: e.item.stage,
        body: e.item.body,
        token: e.token,
        attempt: e.attempt,
        expiresAt: e.at,
      });
    }
    return out;
  }

  async lease(max: number, leaseMs: number, waitMs = 0): Promise<Lease[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const got = this.take(max, leaseMs);
      if (got.length || Date.now() >= deadline) return got;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(100, Math.max(1, deadline - Date.now())));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.s.waiters.add(done);
      });
    }
  }

  private held(lease: Lease): Entry | undefined {
    const e = this.s.entries.get(lease.id);
    return e && e.state === "leased" && e.token === lease.token ? e : undefined;
  }

  async renew(lease: Lease, leaseMs: number): Promise<boolean> {
    const e = this.held(lease);
    if (!e) return false;
    e.at = Date.now() + leaseMs;
    lease.expiresAt = e.at;
    return true;
  }

  async renewMany(leases: readonly Lease[], leaseMs: number): Promise<boolean[]> {
    return Promise.all(leases.map((l) => this.renew(l, leaseMs)));
  }

  async complete(lease: Lease, options: CompleteOptions = {}): Promise<CompleteResult> {
    const e = this.held(lease);
    if (!e) return { ok: false, released: [] };
    e.state = "done";
    e.token = undefined;
    const now = Date.now();
    this.s.firstDoneAt ??= now;
    this.s.lastDoneAt = now;
    const released: string[] = [];
    for (const p of options.parents ?? []) {
      let set = this.s.deps.get(p.item.id);
      if (!set) {
        set = new Set();
        this.s.deps.set(p.item.id, set);
      }
      set.add(lease.id);
      if (set.size >= p.expected && this.add(p.item)) released.push(p.item.id);
    }
    if (released.length) this.s.wake();
    return { ok: true, released };
  }

  async fail(lease: Lease, error: string, options: FailOptions): Promise<FailOutcome> {
    const e = this.held(lease);
    if (!e) return "lost";
    e.token = undefined;
    e.error = error;
    if (options.retryable && e.attempt < this.options.maxAttempts) {
      e.state = "delayed";
      e.at = Date.now() + (options.delayMs ?? this.options.retryDelayMs);
      return "retry";
    }
    e.state = "dead";
    return "dead";
  }

  async release(lease: Lease): Promise<boolean> {
    const e = this.held(lease);
    if (!e) return false;
    e.state = "pending";
    e.token = undefined;
    e.attempt--;
    e.at = 0;
    this.s.wake();
    return true;
  }

  async stats(): Promise<QueueStats> {
    this.sweep(Date.now());
    const stages = new Map<number, StageCounts>();
    for (const e of this.s.entries.values()) {
      const stage = e.item.stage;
      let c = stages.get(stage);
      if (!c) {
        c = { stage, enqueued: 0, pending: 0, delayed: 0, leased: 0, done: 0, dead: 0 };
        stages.set(stage, c);
      }
      c.enqueued++;
      c[e.state]++;
    }
    return {
      stages: [...stages.values()].sort((a, b) => a.stage - b.stage),
      firstDoneAt: this.s.firstDoneAt,
      lastDoneAt: this.s.lastDoneAt,
    };
  }

  async deadLetters(limit = 100): Promise<DeadTask[]> {
    const out: DeadTask[] = [];
    for (const e of this.s.entries.values()) {
      if (out.length >= limit) break;
      if (e.state === "dead") {
        out.push({ id: e.item.id, stage: e.item.stage, error: e.error ?? "", attempt: e.attempt });
      }
    }
    return out;
  }

  async retryFailed(): Promise<number> {
    let n = 0;
    for (const e of this.s.entries.values()) {
      if (e.state !== "dead") continue;
      e.state = "pending";
      e.attempt = 0;
      e.at = 0;
      e.error = undefined;
      n++;
    }
    if (n) this.s.wake();
    return n;
  }

  async releaseAll(): Promise<number> {
    let n = 0;
    for (const e of this.s.entries.values()) {
      if (e.state !== "leased") continue;
      e.state = "pending";
      e.token = undefined;
      e.at = 0;
      n++;
    }
    if (n) this.s.wake();
    return n;
  }

  async purge(): Promise<void> {
    this.s.entries.clear();
    this.s.deps.clear();
    this.s.meta.clear();
    this.s.firstDoneAt = undefined;
    this.s.lastDoneAt = undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.s.meta.set(key, value);
  }

  async getMeta(): Promise<Record<string, string>> {
    return Object.fromEntries(this.s.meta);
  }

  async close(): Promise<void> {}
}
