import { GoogleAuth } from "google-auth-library";
import { VoxportError } from "../errors.js";
import { openQueue } from "../queue/open.js";
import type { Queue, QueueItem } from "../queue/queue.js";

/**
 * Where `/tasks` sends the parents a finished task made ready (`--forward URL`):
 *  - a voxport queue URL (`redis://…`, `sqs://…`, `fq://…`, `mem://…`): enqueued under their
 *    ids (the queue dedupes), for workers or for another service that leases them;
 *  - `pubsub://projects/P/topics/T`: published to that Pub/Sub topic (REST `topics.publish`
 *    with the service's own credentials), whose push subscription calls `/tasks` again — so a
 *    Cloud Run service fed by one topic runs a whole job, stage after stage. PUBSUB_EMULATOR_HOST
 *    (host:port, plain HTTP, no credentials) points it at the Pub/Sub emulator.
 */
export interface Forwarder {
  send(items: QueueItem[]): Promise<number>;
  close(): Promise<void>;
}

const PUBSUB = /^pubsub:\/\/(projects\/[^/]+\/topics\/[^/?#]+)$/;

class QueueForwarder implements Forwarder {
  constructor(private readonly queue: Queue) {}
  async send(items: QueueItem[]): Promise<number> {
    await this.queue.enqueue(items);
    return items.length;
  }
  close(): Promise<void> {
    return this.queue.close();
  }
}

class PubSubForwarder implements Forwarder {
  private readonly auth?: GoogleAuth;
  private readonly endpoint: string;

  constructor(private readonly topic: string) {
    const emulator = process.env.PUBSUB_EMULATOR_HOST;
    this.endpoint = emulator ? `http://${emulator}` : "https://pubsub.googleapis.com";
    if (!emulator)
      this.auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/pubsub"] });
  }

  async send(items: QueueItem[]): Promise<number> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.auth) {
      const token = await (await this.auth.getClient()).getAccessToken();
      headers.authorization = `Bearer ${token.token}`;
    }
    const messages = items.map((i) => ({
      data: Buffer.from(i.body).toString("base64"),
      attributes: { id: i.id, stage: String(i.stage) },
    }));
    const r = await fetch(`${this.endpoint}/v1/${this.topic}:publish`, {
      method: "POST",
      headers,
      body: JSON.stringify({ messages }),
      signal: AbortSignal.timeout(30_000),
    });
    if (!r.ok) {
      throw new VoxportError(
        "STORAGE",
        `publishing ${items.length} message(s) to ${this.topic}: HTTP ${r.status}`,
      );
    }
    return items.length;
  }

  async close(): Promise<void> {}
}

export async function openForwarder(url: string): Promise<Forwarder> {
  const m = PUBSUB.exec(url);
  if (m) return new PubSubForwarder(m[1]);
  if (url.startsWith("pubsub:")) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `--forward ${url}: expected pubsub://projects/PROJECT/topics/TOPIC`,
    );
  }
  return new QueueForwarder(await openQueue(url));
}
