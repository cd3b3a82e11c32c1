import { randomBytes } from "node:crypto";
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
import { type RedisAddress, RedisClient, type Reply } from "./resp.js";
import {
  COMPLETE,
  ENQUEUE,
  FAIL,
  LEASE,
  RELEASE,
  RELEASE_ALL,
  RENEW,
  RETRY_FAILED,
} from "./scripts.js";

/**
 * `redis://[user:password@]host:port[/db]/NAME`: the queue in Redis (≥ 5; tested with 7.0), every operation
 * one Lua script (scripts.ts), so a lease, a completion with its parent releases, or a retry is
 * atomic. Why not BullMQ's Queue/Worker: its Worker owns the processing loop (voxport runs its
 * own, with a thread pool and one batched renewal), a removed job no longer dedupes its id
 * while voxport needs ids to dedupe for the queue's lifetime, per-stage counts would need one
 * BullMQ queue per stage, and its parent/child release works only through flows (the up-front
 * tree architecture.md §6.4 says not to copy). What is taken from BullMQ is its rules: a fresh
 * token per lease checked on every extend/complete, batch renewal by the holder, expired leases
 * taken back by the next lease call using the server's clock only, a bound on stalls, and the
 * child-completes-parent step inside the completion script.
 */

const BATCH = 2000;

function parseRedisUrl(url: string): { address: RedisAddress; name: string } {
  let u: URL;
  try {
    u = new URL(url);
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
      `redis queue name ${JSON.stringify(name)} is not valid`,
    );
  }
  return {
    address: {
      host: u.hostname || "127.0.0.1",
      port: u.port ? Number(u.port) : 6379,
      username: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      db,
    },
    name,
  };
}

function asArray(r: Reply): Reply[] {
  return Array.isArray(r) ? r : [];
}

export class RedisQueue implements Queue {
  private readonly prefix: string;
  private readonly salt = randomBytes(4).toString("hex");

  private constructor(
    readonly url: string,
    private readonly client: RedisClient,
    name: string,
    private readonly options: Required<QueueOptions>,
  ) {
    this.prefix = `voxport:{${name}}:`;
  }

  static open(url: string, options: Required<QueueOptions>): RedisQueue {
    const { address, name } = parseRedisUrl(url.replace(/\?.*$/, ""));
    return new RedisQueue(url, new RedisClient(address), name, options);
  }

  private run(script: string, args: (string | number)[]): Promise<Reply> {
    return this.client.eval(script, [], [this.prefix, ...args]);
  }

  async enqueue(items: readonly QueueItem[]): Promise<number> {
    const calls: Promise<Reply>[] = [];
    for (let i = 0; i < items.length; i += BATCH) {
      const args: (string | number)[] = [];
      for (const item of items.slice(i, i + BATCH)) {
        if (!TASK_ID.test(item.id)) {
          throw new VoxportError(
            "INVALID_ARGUMENT",
            `task id ${JSON.stringify(item.id)} is not valid`,
          );
        }
        args.push(item.id, item.stage, item.body);
      }
      calls.push(this.run(ENQUEUE, args)); // pipelined: sent at once, answered in order
    }
    let n = 0;
    for (const r of await Promise.all(calls)) n += Number(r);
    return n;
  }

  private async take(max: number, leaseMs: number): Promise<Lease[]> {
    const r = asArray(await this.run(LEASE, [max, leaseMs, this.options.maxLeases, this.salt]));
    const sent = Date.now();
    const out: Lease[] = [];
    for (let i = 1; i + 4 < r.length; i += 5) {
      out.push({
        id: String(r[i]),
        stage: Number(r[i + 1]),
        body: String(r[i + 2]),
        token: String(r[i + 3]),
        attempt: Number(r[i + 4]),
        // Our clock, not the server's: the keeper renews by local time, early enough.
        expiresAt: sent + leaseMs,
      });
    }
    return out;
  }

  async lease(max: number, leaseMs: number, waitMs = 0): Promise<Lease[]> {
    const deadline = Date.now() + waitMs;
    let delay = 20;
    for (;;) {
      const got = await this.take(max, leaseMs);
      const left = deadline - Date.now();
      if (got.length || left <= 0) return got;
      await new Promise((r) => setTimeout(r, Math.min(left, delay * (0.5 + Math.random()))));
      delay = Math.min(delay * 2, 1000);
    }
  }

  async renew(lease: Lease, leaseMs: number): Promise<boolean> {
    return (await this.renewMany([lease], leaseMs))[0];
  }

  async renewMany(leases: readonly Lease[], leaseMs: number): Promise<boolean[]> {
    if (leases.length === 0) return [];
    const args: (string | number)[] = [leaseMs];
    for (const l of leases) args.push(l.id, l.token);
    const sent = Date.now();
    const r = asArray(await this.run(RENEW, args));
    return leases.map((l, i) => {
      const ok = Number(r[i + 1]) === 1;
      if (ok) l.expiresAt = sent + leaseMs;
      return ok;
    });
  }

  async complete(lease: Lease, options: CompleteOptions = {}): Promise<CompleteResult> {
    const args: (string | number)[] = [lease.id, lease.token];
    for (const p of options.parents ?? []) {
      if (!TASK_ID.test(p.item.id)) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          `task id ${JSON.stringify(p.item.id)} is not valid`,
        );
      }
      args.push(p.item.id, p.item.stage, p.item.body, p.expected);
    }
    const r = asArray(await this.run(COMPLETE, args));
    return { ok: Number(r[0]) === 1, released: r.slice(1).map(String) };
  }

  async fail(lease: Lease, error: string, options: FailOptions): Promise<FailOutcome> {
    const r = await this.run(FAIL, [
      lease.id,
      lease.token,
      options.retryable ? 1 : 0,
      options.delayMs ?? this.options.retryDelayMs,
      error,
      this.options.maxAttempts,
    ]);
    return String(r) as FailOutcome;
  }

  async release(lease: Lease): Promise<boolean> {
    return Number(await this.run(RELEASE, [lease.id, lease.token])) === 1;
  }

  async stats(): Promise<QueueStats> {
    const raw = asArray(await this.client.call("HGETALL", `${this.prefix}cnt`));
    const stages = new Map<number, StageCounts>();
    const field: Record<string, keyof Omit<StageCounts, "stage">> = {
      enq: "enqueued",
      wait: "pending",
      delayed: "delayed",
      leased: "leased",
      done: "done",
      dead: "dead",
    };
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const [state, s] = String(raw[i]).split(":");
      const stage = Number(s);
      const key = field[state];
      if (!key || !Number.isInteger(stage)) continue;
      let c = stages.get(stage);
      if (!c) {
        c = { stage, enqueued: 0, pending: 0, delayed: 0, leased: 0, done: 0, dead: 0 };
        stages.set(stage, c);
      }
      c[key] = Number(raw[i + 1]);
    }
    const times = asArray(
      await this.client.call("HMGET", `${this.prefix}meta`, "~first-done", "~last-done"),
    );
    return {
      stages: [...stages.values()].sort((a, b) => a.stage - b.stage),
      firstDoneAt: times[0] == null ? undefined : Number(times[0]),
      lastDoneAt: times[1] == null ? undefined : Number(times[1]),
    };
  }

  async deadLetters(limit = 100): Promise<DeadTask[]> {
    const out: DeadTask[] = [];
    let cursor = "0";
    do {
      const r = asArray(
        await this.client.call("HSCAN", `${this.prefix}dead`, cursor, "COUNT", 200),
      );
      cursor = String(r[0]);
      const kv = asArray(r[1]);
      for (let i = 0; i + 1 < kv.length && out.length < limit; i += 2) {
        const id = String(kv[i]);
        let error = "";
        let attempt = 0;
        try {
          const e = JSON.parse(String(kv[i + 1]));
          error = e.error;
          attempt = e.attempt;
        } catch {
          error = String(kv[i + 1]);
        }
        const v = await this.client.call("HGET", `${this.prefix}task`, id);
        const stage = Number(String(v ?? "0").split("\n", 1)[0]);
        out.push({ id, stage, error, attempt });
      }
    } while (cursor !== "0" && out.length < limit);
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async retryFailed(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = Number(await this.run(RETRY_FAILED, [1000]));
      total += n;
      if (n < 1000) return total;
    }
  }

  async releaseAll(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = Number(await this.run(RELEASE_ALL, [1000]));
      total += n;
      if (n < 1000) return total;
    }
  }

  async purge(): Promise<void> {
    let cursor = "0";
    do {
      const r = asArray(
        await this.client.call(
          "SCAN",
          cursor,
          "MATCH",
          `${this.prefix.replace(/[{}[\]*?]/g, "\\$&")}*`,
          "COUNT",
          1000,
        ),
      );
      cursor = String(r[0]);
      const keys = asArray(r[1]).map(String);
      if (keys.length) await this.client.call("UNLINK", ...keys);
    } while (cursor !== "0");
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.client.call("HSET", `${this.prefix}meta`, key, value);
  }

  async getMeta(): Promise<Record<string, string>> {
    const raw = asArray(await this.client.call("HGETALL", `${this.prefix}meta`));
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const k = String(raw[i]);
      if (!k.startsWith("~")) out[k] = String(raw[i + 1]);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
