import { createHash } from "node:crypto";
import { connect, type Socket } from "node:net";
import { VoxportError } from "../../errors.js";

/**
 * A minimal Redis client: RESP2 over one TCP connection, pipelined (commands are written at
 * once and answered in order), with EVALSHA/EVAL for Lua scripts and a reconnect on the next
 * command after a dropped connection. It is all the redis:// queue needs; BullMQ 6 brings no
 * client of its own (ioredis and node-redis are optional peers), so this keeps the queue free
 * of another dependency.
 */

export type Reply = string | number | null | Reply[] | RedisError;

export class RedisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedisError";
  }
}

export interface RedisAddress {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
}

interface Pending {
  resolve(v: Reply): void;
  reject(e: Error): void;
}

const CRLF = Buffer.from("\r\n");

function encode(args: readonly (string | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

/** Parses one reply at `pos`; returns undefined when the buffer holds only part of it. */
function parse(buf: Buffer, pos: number): [Reply, number] | undefined {
  if (pos >= buf.length) return undefined;
  const end = buf.indexOf(CRLF, pos);
  if (end < 0) return undefined;
  const type = buf[pos];
  const line = buf.toString("utf8", pos + 1, end);
  switch (type) {
    case 43: // +
      return [line, end + 2];
    case 45: // -
      return [new RedisError(line), end + 2];
    case 58: // :
      return [Number(line), end + 2];
    case 36: {
      // $
      const len = Number(line);
      if (len < 0) return [null, end + 2];
      if (buf.length < end + 2 + len + 2) return undefined;
      return [buf.toString("utf8", end + 2, end + 2 + len), end + 2 + len + 2];
    }
    case 42: {
      // *
      const n = Number(line);
      if (n < 0) return [null, end + 2];
      const out: Reply[] = [];
      let p = end + 2;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (!r) return undefined;
        out.push(r[0]);
        p = r[1];
      }
      return [out, p];
    }
    default:
      throw new RedisError(`unexpected RESP type byte ${type} at ${pos}`);
  }
}

export class RedisClient {
  private socket?: Socket;
  private connecting?: Promise<Socket>;
  private readonly pending: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private readonly shas = new Map<string, string>();
  private closed = false;

  constructor(readonly address: RedisAddress) {}

  private where(): string {
    return `redis://${this.address.host}:${this.address.port}`;
  }

  private open(): Promise<Socket> {
    this.connecting ??= (async () => {
      try {
        const s = await new Promise<Socket>((resolve, reject) => {
          const sock = connect({ host: this.address.host, port: this.address.port });
          sock.setNoDelay(true);
          const onError = (e: Error) =>
            reject(
              new VoxportError("STORAGE", `cannot connect to ${this.where()}: ${e.message}`, {
                cause: e,
              }),
            );
          sock.once("error", onError);
          sock.once("connect", () => {
            sock.off("error", onError);
            sock.on("data", (d: Buffer) => this.onData(d));
            sock.on("error", (e) => this.drop(sock, e));
            sock.on("close", () => this.drop(sock, new Error("connection closed")));
            resolve(sock);
          });
        });
        this.socket = s;
        // Handshake first; other commands wait for `connecting` to settle.
        if (this.address.password !== undefined) {
          const auth = this.address.username
            ? ["AUTH", this.address.username, this.address.password]
            : ["AUTH", this.address.password];
          await this.write(s, auth);
        }
        if (this.address.db) await this.write(s, ["SELECT", this.address.db]);
        return s;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  private drop(sock: Socket, e: Error): void {
    if (this.socket !== sock) return;
    sock.destroy();
    this.socket = undefined;
    this.buf = Buffer.alloc(0);
    const err = new VoxportError("STORAGE", `${this.where()}: ${e.message}`, { cause: e });
    for (const p of this.pending.splice(0)) p.reject(err);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let pos = 0;
    for (;;) {
      const r = parse(this.buf, pos);
      if (!r) break;
      pos = r[1];
      const p = this.pending.shift();
      if (!p) continue;
      if (r[0] instanceof RedisError) p.reject(r[0]);
      else p.resolve(r[0]);
    }
    this.buf = pos === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }

  private write(s: Socket, args: readonly (string | number)[]): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      s.write(encode(args));
    });
  }

  /** Sends one command; rejects with RedisError for an error reply. */
  async call(...args: (string | number)[]): Promise<Reply> {
    if (this.closed) throw new VoxportError("STORAGE", `${this.where()}: client is closed`);
    const s = this.connecting ? await this.connecting : (this.socket ?? (await this.open()));
    return this.write(s, args);
  }

  /** Runs a Lua script by its SHA, loading it on NOSCRIPT (after a server restart, say). */
  async eval(
    script: string,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<Reply> {
    let sha = this.shas.get(script);
    if (!sha) {
      sha = createHash("sha1").update(script).digest("hex");
      this.shas.set(script, sha);
    }
    try {
      return await this.call("EVALSHA", sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!(e instanceof RedisError) || !e.message.startsWith("NOSCRIPT")) throw e;
      return this.call("EVAL", script, keys.length, ...keys, ...args);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.socket;
    if (!s) return;
    try {
      await this.write(s, ["QUIT"]);
    } catch {
      /* already gone */
    }
    this.socket = undefined;
    s.destroy();
  }
}
