import type {
  GetOptions,
  KvStore,
  KvStoreCapabilities,
  ObjectStat,
  PublicAccess,
  PutOptions,
  StoredObject,
} from "./kvstore.js";

/**
 * A store whose driver module is imported on first use. The s3 and gs drivers pull in large
 * SDKs (hundreds of milliseconds to load); a command that never touches them should not pay
 * for them. `url` and `capabilities` are known up front; everything else waits for the driver.
 * A failed load is not cached, so a later call tries again.
 */
export class LazyKvStore implements KvStore {
  private loading?: Promise<KvStore>;

  constructor(
    readonly url: string,
    readonly capabilities: KvStoreCapabilities,
    private readonly load: () => Promise<KvStore>,
  ) {}

  /** The real store (loads the driver). */
  store(): Promise<KvStore> {
    this.loading ??= this.load().catch((e) => {
      this.loading = undefined;
      throw e;
    });
    return this.loading;
  }

  async get(key: string, options?: GetOptions): Promise<StoredObject | undefined> {
    return (await this.store()).get(key, options);
  }

  async put(key: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    return (await this.store()).put(key, data, options);
  }

  async stat(key: string, options?: { signal?: AbortSignal }): Promise<ObjectStat | undefined> {
    return (await this.store()).stat(key, options);
  }

  async delete(key: string, options?: { signal?: AbortSignal }): Promise<void> {
    return (await this.store()).delete(key, options);
  }

  async *list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<string> {
    yield* (await this.store()).list(prefix, options);
  }

  /** Only s3 and gs are lazy, and both drivers implement it. */
  async setPublicAccess(access: PublicAccess, options?: { signal?: AbortSignal }): Promise<void> {
    const store = await this.store();
    if (store.setPublicAccess === undefined) {
      throw new Error(`${this.url}: the driver has no setPublicAccess`);
    }
    return store.setPublicAccess(access, options);
  }

  async close(): Promise<void> {
    if (this.loading === undefined) return;
    await (await this.loading).close?.();
  }
}
