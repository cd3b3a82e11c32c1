import { randomBytes } from "node:crypto";
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  type ReceiveMessageCommandOutput,
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  SQSClient,
} from "@aws-sdk/client-sqs";
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
import { openStateStore, type StateStore } from "./state.js";
import { parseSqsUrl, type SqsLocation } from "./url.js";

/**
 * `sqs://…` (url.ts): AWS SQS through the official SDK. SQS gives leases (visibility timeout,
 * renewed with ChangeMessageVisibility) and at-least-once delivery; everything else lives in a
 * state store (state.ts):
 *   ids/<stage>/<id>    {"t": claimed at, "sent": bool}  — created exclusively: dedupe
 *   done/<stage>/<id>   dead/<stage>/<id> {error, attempt, body}   errors/<id> (last error)
 *   leases/<id>         {"token", "handle"}  — the current holder; SQS itself accepts a stale
 *                       receipt handle, so this is how a worker learns its lease was taken
 *   deps/<parent>/<child>, meta/<key>
 * Counts are exact per id (a message SQS delivers twice is recognised as done and dropped).
 * Retries: the message's visibility is set to the backoff delay. Dead-lettering is voxport's
 * (the error is kept with the message), after max-attempts failures or when SQS's receive
 * count passes max-leases (workers keep dying on it); no redrive policy is needed.
 */

const ORPHAN_MS = 15_000;
const SENDERS = 8;

interface LeaseRecord {
  token: string;
  handle: string;
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

export class SqsQueue implements Queue {
  private queueUrl?: Promise<string>;
  private firstDoneMarked = false;

  private constructor(
    readonly url: string,
    private readonly loc: SqsLocation,
    private readonly sqs: SQSClient,
    private readonly state: StateStore,
    private readonly options: Required<QueueOptions>,
  ) {}

  static open(url: string, options: Required<QueueOptions>): SqsQueue {
    const loc = parseSqsUrl(url);
    const credentials =
      loc.endpoint && !process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE
        ? { accessKeyId: "voxport", secretAccessKey: "voxport" }
        : undefined;
    const sqs = new SQSClient({ region: loc.region, endpoint: loc.endpoint, credentials });
    return new SqsQueue(url, loc, sqs, openStateStore(loc.state), options);
  }

  private resolveUrl(): Promise<string> {
    this.queueUrl ??= (async () => {
      try {
        const r = await this.sqs.send(new GetQueueUrlCommand({ QueueName: this.loc.name }));
        return r.QueueUrl!;
      } catch (e) {
        const name = (e as Error).name;
        if (name !== "QueueDoesNotExist" && name !== "AWS.SimpleQueueService.NonExistentQueue") {
          throw this.wrap(e, "GetQueueUrl");
        }
      }
      // Keep messages 14 days (the maximum; the default 4 days is shorter than big ingests).
      const r = await this.sqs.send(
        new CreateQueueCommand({
          QueueName: this.loc.name,
          Attributes: { MessageRetentionPeriod: "1209600" },
        }),
      );
      return r.QueueUrl!;
    })();
    this.queueUrl.catch(() => {
      this.queueUrl = undefined;
    });
    return this.queueUrl;
  }

  private wrap(e: unknown, what: string): VoxportError {
    return new VoxportError("STORAGE", `SQS ${what} on ${this.loc.name}: ${(e as Error).message}`, {
      cause: e,
    });
  }

  private async readJson<T>(key: string): Promise<T | undefined> {
    const s = await this.state.get(key);
    if (s === undefined) return undefined;
    try {
      return JSON.parse(s) as T;
    } catch {
      return undefined;
    }
  }

  // ---- enqueue -------------------------------------------------------------------------------

  private async send(items: readonly QueueItem[]): Promise<void> {
    const QueueUrl = await this.resolveUrl();
    const batches: QueueItem[][] = [];
    for (let i = 0; i < items.length; i += 10) batches.push(items.slice(i, i + 10));
    await mapLimit(batches, SENDERS, async (batch) => {
      let r: SendMessageBatchCommandOutput;
      try {
        r = await this.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl,
            Entries: batch.map((item, i) => ({
              Id: String(i),
              MessageBody: item.body,
              MessageAttributes: {
                id: { DataType: "String", StringValue: item.id },
                stage: { DataType: "Number", StringValue: String(item.stage) },
              },
            })),
          }),
        );
      } catch (e) {
        throw this.wrap(e, "SendMessageBatch");
      }
      if (r.Failed?.length) {
        throw new VoxportError(
          "STORAGE",
          `SQS SendMessageBatch on ${this.loc.name}: ${r.Failed.length} message(s) refused: ${r.Failed[0].Message}`,
        );
      }
    });
  }

  private claimKey(item: { stage: number; id: string }): string {
    return `ids/${item.stage}/${item.id}`;
  }

  /** Claims ids, sends the new ones, marks them sent. Returns the ids sent. */
  private async place(batch: readonly QueueItem[]): Promise<string[]> {
    const unique = new Map<string, QueueItem>();
    for (const item of batch) {
      if (!TASK_ID.test(item.id)) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          `task id ${JSON.stringify(item.id)} is not valid`,
        );
      }
      if (!unique.has(item.id)) unique.set(item.id, item);
    }
    const items = [...unique.values()];
    const now = Date.now();
    const claimed = await mapLimit(items, 32, async (item) => {
      const key = this.claimKey(item);
      if (await this.state.createExclusive(key, JSON.stringify({ t: now, sent: false })))
        return true;
      // Known. Sent, or being sent right now, or its sender died between claim and send: the
      // next enqueue of the same id (the dependency tracker's retry) sends it after a grace.
      for (;;) {
        const c = await this.readJson<{ t: number; sent: boolean }>(key);
        if (!c || c.sent) return false;
        const age = Date.now() - c.t;
        if (age >= ORPHAN_MS) {
          await this.state.put(key, JSON.stringify({ t: Date.now(), sent: false }));
          return true;
        }
        await new Promise((r) => setTimeout(r, Math.min(1000, ORPHAN_MS - age + 10)));
      }
    });
    const fresh = items.filter((_, i) => claimed[i]);
    if (fresh.length === 0) return [];
    await this.send(fresh);
    await mapLimit(fresh, 32, (item) =>
      this.state.put(this.claimKey(item), JSON.stringify({ t: now, sent: true })),
    );
    return fresh.map((i) => i.id);
  }

  async enqueue(items: readonly QueueItem[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < items.length; i += 1000) {
      n += (await this.place(items.slice(i, i + 1000))).length;
    }
    return n;
  }

  // ---- lease ---------------------------------------------------------------------------------

  async lease(max: number, leaseMs: number, waitMs = 0): Promise<Lease[]> {
    const QueueUrl = await this.resolveUrl();
    const deadline = Date.now() + waitMs;
    const visibility = Math.max(1, Math.ceil(leaseMs / 1000));
    const out: Lease[] = [];
    for (;;) {
      const wait = Math.max(0, Math.min(20, Math.floor((deadline - Date.now()) / 1000)));
      let r: ReceiveMessageCommandOutput;
      try {
        r = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl,
            MaxNumberOfMessages: Math.min(10, max - out.length),
            VisibilityTimeout: visibility,
            WaitTimeSeconds: out.length ? 0 : wait,
            MessageSystemAttributeNames: ["ApproximateReceiveCount"],
            MessageAttributeNames: ["id", "stage"],
          }),
        );
      } catch (e) {
        throw this.wrap(e, "ReceiveMessage");
      }
      const received = Date.now();
      const msgs = r.Messages ?? [];
      const leases = await mapLimit(msgs, 10, async (m) => {
        const id = m.MessageAttributes?.id?.StringValue;
        const stage = Number(m.MessageAttributes?.stage?.StringValue);
        const handle = m.ReceiptHandle!;
        const attempt = Number(m.Attributes?.ApproximateReceiveCount ?? "1");
        if (!id || !Number.isInteger(stage) || !TASK_ID.test(id)) {
          // Not ours: keep it out of the way with its body as the error record.
          const bad = `unknown-${randomBytes(6).toString("hex")}`;
          await this.state.put(
            `dead/0/${bad}`,
            JSON.stringify({
              error: "message without voxport id/stage attributes",
              attempt,
              body: m.Body ?? "",
            }),
          );
          await this.deleteMessage(QueueUrl, handle);
          return undefined;
        }
        if ((await this.state.get(`done/${stage}/${id}`)) !== undefined) {
          await this.deleteMessage(QueueUrl, handle); // a duplicate delivery of a finished task
          return undefined;
        }
        if (attempt > this.options.maxLeases) {
          const error = `received ${attempt - 1} times without the task finishing (its workers died?)`;
          await this.toDead(
            QueueUrl,
            { id, stage, handle, body: m.Body ?? "", attempt: attempt - 1 },
            error,
          );
          return undefined;
        }
        const token = randomBytes(8).toString("hex");
        await this.state.put(
          `leases/${id}`,
          JSON.stringify({ token, handle } satisfies LeaseRecord),
        );
        const lease: Lease = {
          id,
          stage,
          body: m.Body ?? "",
          token,
          attempt,
          expiresAt: received + visibility * 1000,
          handle,
        };
        return lease;
      });
      for (const l of leases) if (l) out.push(l);
      if (out.length >= max || (msgs.length === 0 && (out.length > 0 || Date.now() >= deadline))) {
        return out;
      }
      if (msgs.length === 0 && wait === 0) {
        await new Promise((res) =>
          setTimeout(res, Math.min(200, Math.max(0, deadline - Date.now()))),
        );
      }
    }
  }

  private async deleteMessage(QueueUrl: string, handle: string): Promise<void> {
    try {
      await this.sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: handle }));
    } catch (e) {
      throw this.wrap(e, "DeleteMessage");
    }
  }

  private async toDead(
    QueueUrl: string,
    t: { id: string; stage: number; handle: string; body: string; attempt: number },
    error: string,
  ): Promise<void> {
    await this.state.put(
      `errors/${t.id}`,
      JSON.stringify({ error, attempt: t.attempt, at: Date.now() }),
    );
    await this.state.put(
      `dead/${t.stage}/${t.id}`,
      JSON.stringify({ error, attempt: t.attempt, body: t.body }),
    );
    await this.deleteMessage(QueueUrl, t.handle);
    await this.state.delete(`leases/${t.id}`);
  }

  // ---- holding a lease -----------------------------------------------------------------------

  private async holds(lease: Lease): Promise<boolean> {
    const r = await this.readJson<LeaseRecord>(`leases/${lease.id}`);
    return r?.token === lease.token;
  }

  async renew(lease: Lease, leaseMs: number): Promise<boolean> {
    return (await this.renewMany([lease], leaseMs))[0];
  }

  async renewMany(leases: readonly Lease[], leaseMs: number): Promise<boolean[]> {
    if (leases.length === 0) return [];
    const QueueUrl = await this.resolveUrl();
    const held = await mapLimit(leases, 16, (l) => this.holds(l));
    const ok = [...held];
    const visibility = Math.max(1, Math.ceil(leaseMs / 1000));
    const live = leases.map((l, i) => ({ l, i })).filter((x) => held[x.i]);
    for (let k = 0; k < live.length; k += 10) {
      const batch = live.slice(k, k + 10);
      const sent = Date.now();
      try {
        const r = await this.sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl,
            Entries: batch.map(({ l, i }) => ({
              Id: String(i),
              ReceiptHandle: l.handle as string,
              VisibilityTimeout: visibility,
            })),
          }),
        );
        for (const f of r.Failed ?? []) ok[Number(f.Id)] = false;
      } catch (e) {
        throw this.wrap(e, "ChangeMessageVisibilityBatch");
      }
      for (const { l, i } of batch) if (ok[i]) l.expiresAt = sent + visibility * 1000;
    }
    return ok;
  }

  async complete(lease: Lease, options: CompleteOptions = {}): Promise<CompleteResult> {
    const QueueUrl = await this.resolveUrl();
    if (!(await this.holds(lease))) return { ok: false, released: [] };
    // Parents before the done record and the delete: if this process dies in between, SQS
    // delivers the task again and the (deduped) parent enqueue is repeated.
    const released: string[] = [];
    for (const p of options.parents ?? []) {
      await this.state.put(`deps/${p.item.id}/${lease.id}`, "");
      let n = 0;
      for await (const _ of this.state.list(`deps/${p.item.id}/`)) n++;
      if (n >= p.expected) released.push(...(await this.place([p.item])));
    }
    await this.state.put(`done/${lease.stage}/${lease.id}`, String(Date.now()));
    await this.deleteMessage(QueueUrl, lease.handle as string);
    await this.state.delete(`leases/${lease.id}`);
    await this.state.delete(`errors/${lease.id}`);
    const now = String(Date.now());
    if (!this.firstDoneMarked) {
      this.firstDoneMarked = true;
      await this.state.createExclusive("meta/~first-done", now);
    }
    await this.state.put("meta/~last-done", now);
    return { ok: true, released };
  }

  async fail(lease: Lease, error: string, options: FailOptions): Promise<FailOutcome> {
    const QueueUrl = await this.resolveUrl();
    if (!(await this.holds(lease))) return "lost";
    if (options.retryable && lease.attempt < this.options.maxAttempts) {
      await this.state.put(
        `errors/${lease.id}`,
        JSON.stringify({ error, attempt: lease.attempt, at: Date.now() }),
      );
      const delay = Math.ceil((options.delayMs ?? this.options.retryDelayMs) / 1000);
      try {
        await this.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl,
            ReceiptHandle: lease.handle as string,
            VisibilityTimeout: delay,
          }),
        );
      } catch (e) {
        throw this.wrap(e, "ChangeMessageVisibility");
      }
      await this.state.delete(`leases/${lease.id}`);
      return "retry";
    }
    await this.toDead(
      QueueUrl,
      {
        id: lease.id,
        stage: lease.stage,
        handle: lease.handle as string,
        body: lease.body,
        attempt: lease.attempt,
      },
      error,
    );
    return "dead";
  }

  async release(lease: Lease): Promise<boolean> {
    const QueueUrl = await this.resolveUrl();
    if (!(await this.holds(lease))) return false;
    await this.state.delete(`leases/${lease.id}`);
    try {
      await this.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl,
          ReceiptHandle: lease.handle as string,
          VisibilityTimeout: 0,
        }),
      );
    } catch (e) {
      throw this.wrap(e, "ChangeMessageVisibility");
    }
    return true;
  }

  // ---- operating -----------------------------------------------------------------------------

  private async countByStage(prefix: string): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for await (const key of this.state.list(prefix)) {
      const stage = Number(key.slice(prefix.length).split("/", 1)[0]);
      if (Number.isInteger(stage)) out.set(stage, (out.get(stage) ?? 0) + 1);
    }
    return out;
  }

  async stats(): Promise<QueueStats> {
    const QueueUrl = await this.resolveUrl();
    const [enq, done, dead, attrs, first, last] = await Promise.all([
      this.countByStage("ids/"),
      this.countByStage("done/"),
      this.countByStage("dead/"),
      this.sqs
        .send(
          new GetQueueAttributesCommand({
            QueueUrl,
            AttributeNames: [
              "ApproximateNumberOfMessages",
              "ApproximateNumberOfMessagesNotVisible",
              "ApproximateNumberOfMessagesDelayed",
            ],
          }),
        )
        .catch((e) => {
          throw this.wrap(e, "GetQueueAttributes");
        }),
      this.state.get("meta/~first-done"),
      this.state.get("meta/~last-done"),
    ]);
    const stages = new Map<number, StageCounts>();
    for (const s of new Set([...enq.keys(), ...done.keys(), ...dead.keys()])) {
      const e = enq.get(s) ?? 0;
      const d = done.get(s) ?? 0;
      const x = dead.get(s) ?? 0;
      stages.set(s, {
        stage: s,
        enqueued: e,
        pending: Math.max(0, e - d - x),
        delayed: 0,
        leased: 0,
        done: d,
        dead: x,
      });
    }
    const a = attrs.Attributes ?? {};
    return {
      stages: [...stages.values()].sort((p, q) => p.stage - q.stage),
      approximate: true,
      backlog: {
        visible: Number(a.ApproximateNumberOfMessages ?? 0),
        inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
        delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
      },
      firstDoneAt: first === undefined ? undefined : Number(first),
      lastDoneAt: last === undefined ? undefined : Number(last),
    };
  }

  async deadLetters(limit = 100): Promise<DeadTask[]> {
    const out: DeadTask[] = [];
    for await (const key of this.state.list("dead/")) {
      if (out.length >= limit) break;
      const [, s, id] = key.split("/");
      const r = await this.readJson<{ error: string; attempt: number }>(key);
      out.push({ id, stage: Number(s), error: r?.error ?? "", attempt: r?.attempt ?? 0 });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async retryFailed(): Promise<number> {
    const items: { key: string; item: QueueItem }[] = [];
    for await (const key of this.state.list("dead/")) {
      const [, s, id] = key.split("/");
      const r = await this.readJson<{ body: string }>(key);
      if (r && TASK_ID.test(id)) items.push({ key, item: { id, stage: Number(s), body: r.body } });
    }
    for (let i = 0; i < items.length; i += 100) {
      const chunk = items.slice(i, i + 100);
      await this.send(chunk.map((c) => c.item));
      for (const c of chunk) {
        await this.state.delete(c.key);
        await this.state.delete(`errors/${c.item.id}`);
      }
    }
    return items.length;
  }

  async releaseAll(): Promise<number> {
    const QueueUrl = await this.resolveUrl();
    let n = 0;
    for await (const key of this.state.list("leases/")) {
      const r = await this.readJson<LeaseRecord>(key);
      await this.state.delete(key);
      if (!r) continue;
      try {
        await this.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl,
            ReceiptHandle: r.handle,
            VisibilityTimeout: 0,
          }),
        );
        n++;
      } catch {
        /* the message was deleted or its handle expired: nothing to release */
      }
    }
    return n;
  }

  async purge(): Promise<void> {
    const QueueUrl = await this.resolveUrl();
    try {
      await this.sqs.send(new PurgeQueueCommand({ QueueUrl }));
    } catch (e) {
      throw this.wrap(e, "PurgeQueue");
    }
    const keys: string[] = [];
    for await (const key of this.state.list("")) keys.push(key);
    await mapLimit(keys, 32, (k) => this.state.delete(k));
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.state.put(`meta/${encodeURIComponent(key)}`, value);
  }

  async getMeta(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for await (const key of this.state.list("meta/")) {
      const name = decodeURIComponent(key.slice("meta/".length));
      if (name.startsWith("~")) continue;
      const v = await this.state.get(key);
      if (v !== undefined) out[name] = v;
    }
    return out;
  }

  async close(): Promise<void> {
    this.sqs.destroy();
  }
}
