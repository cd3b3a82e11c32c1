import type { Lease, Queue } from "../queue/queue.js";

/**
 * Keeps the leases a worker holds alive while their tasks run (BullMQ's LockManager): a timer
 * renews, in one batched call, every lease that is half-way to its expiry. A lease the queue
 * says is lost (it expired and another worker took it) is reported once through `onLost`, and
 * the worker then drops that task's result. A failed renewal call (network) is reported through
 * `onError` and retried on the next tick (a lease past its expiry may still be renewed, if no
 * other worker took it; if one did, the renewal or the completion is refused).
 * The keeper runs on the main thread; task work runs on worker threads, so renewals are not
 * starved by CPU-heavy tasks.
 */
export interface LeaseKeeperOptions {
  onLost?(lease: Lease): void;
  onError?(error: unknown): void;
  /** Timer period; default an eighth of the lease, between 50 ms and 5 s. */
  tickMs?: number;
  now?: () => number;
}

export class LeaseKeeper {
  private readonly held = new Map<Lease, { lost: boolean }>();
  private readonly timer: NodeJS.Timeout;
  private busy = false;
  private readonly now: () => number;
  renewals = 0;

  constructor(
    private readonly queue: Queue,
    private readonly leaseMs: number,
    private readonly options: LeaseKeeperOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    const tick = options.tickMs ?? Math.min(5000, Math.max(50, Math.floor(leaseMs / 8)));
    this.timer = setInterval(() => void this.tick(), tick);
    this.timer.unref();
  }

  add(lease: Lease): void {
    this.held.set(lease, { lost: false });
  }

  remove(lease: Lease): void {
    this.held.delete(lease);
  }

  /** The queue said so (a renewal was refused); completing it would be refused too. */
  isLost(lease: Lease): boolean {
    return this.held.get(lease)?.lost ?? false;
  }

  leases(): Lease[] {
    return [...this.held.keys()];
  }

  private markLost(lease: Lease): void {
    const h = this.held.get(lease);
    if (!h || h.lost) return;
    h.lost = true;
    this.options.onLost?.(lease);
  }

  /** Renews what is due now; exposed for tests. */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const now = this.now();
      const due: Lease[] = [];
      for (const [lease, h] of this.held) {
        // Past its expiry too: the queue, not our clock, says whether it is lost (nobody may
        // have taken it yet, and then the renewal succeeds).
        if (!h.lost && lease.expiresAt - now <= this.leaseMs / 2) due.push(lease);
      }
      if (due.length === 0) return;
      let ok: boolean[];
      try {
        ok = await this.queue.renewMany(due, this.leaseMs);
        this.renewals++;
      } catch (e) {
        this.options.onError?.(e);
        return;
      }
      due.forEach((lease, i) => {
        if (!ok[i] && this.held.has(lease)) this.markLost(lease);
      });
    } finally {
      this.busy = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.held.clear();
  }
}
