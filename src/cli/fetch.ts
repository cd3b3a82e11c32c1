import { resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { VoxportError } from "../errors.js";
import { mapLimit } from "../sources/concurrency.js";
import { listRemoteObjects } from "../sources/remote-stack.js";
import { FileKvStore } from "../storage/drivers/file.js";
import { readBytes } from "../storage/io.js";
import type { KvStore } from "../storage/kvstore.js";
import { openStore } from "../storage/registry.js";
import { formatBytes, formatDuration, parseIntIn } from "./parse.js";

/**
 * `voxport fetch SOURCE DESTINATION [--filter REGEX]`: copy input files from an object store or
 * web server to a local folder (or to any other store URL), for users who want a local copy.
 * The HBP image service's fetch_input, generalised: SOURCE is one file, a folder/prefix (its
 * direct files), a glob on the last part, or a prefix plus --filter (every object under it whose
 * relative name matches from its start, nested names kept as sub-folders). Nothing is written
 * when nothing matches. `voxport ingest` reads the same URLs directly, without a copy.
 */

interface FetchFlags {
  filter?: string;
  concurrency: number;
  swiftSettings?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function registerFetch(program: Command): void {
  program
    .command("fetch")
    .description(
      "Copy input files from s3://, gs://, swift:// or https:// to a local folder.\n\n" +
        "SOURCE is a file URL, a prefix (its direct files), a prefix ending in a glob such as\n" +
        "'s3://bucket/stack/s_*.tif', or a prefix plus --filter REGEX (every object below it whose\n" +
        "name, relative to SOURCE, matches REGEX from its start). DESTINATION is a folder (created\n" +
        "if needed) or any store URL. Credentials: the AWS and Google default chains, and for\n" +
        "Swift SWIFT_SETTINGS (or --swift-settings) or the OS_* variables.\n\n" +
        "Example:\n" +
        "  voxport fetch swift://img-input/data/raw --filter 'pm31\\d{2}o\\.png' ./source",
    )
    .argument("<source>", "URL of a file, a prefix, or a prefix with a glob")
    .argument("<destination>", "local folder (or store URL) to copy into")
    .option("--filter <regex>", "select objects below SOURCE whose relative name matches")
    .option("--concurrency <n>", "downloads in flight", parseIntIn("--concurrency", 1, 256), 16)
    .option("--swift-settings <file>", "Swift settings JSON (chmod 600); sets SWIFT_SETTINGS")
    .option("--dry-run", "list what would be copied and exit")
    .option("--json", "print the summary as JSON on stdout")
    .action(async (source: string, destination: string, flags: FetchFlags) => {
      if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
        throw new InvalidArgumentError(
          `SOURCE must be a URL (s3://, gs://, swift://, https://), got ${source}`,
        );
      }
      if (flags.swiftSettings !== undefined)
        process.env.SWIFT_SETTINGS = resolve(flags.swiftSettings);
      const started = performance.now();
      const found = await listRemoteObjects(source, { filter: flags.filter });
      if (found.names.length === 0) {
        throw new VoxportError(
          "INVALID_SOURCE",
          `nothing to fetch: ${found.description} has no files`,
        );
      }
      let names = found.names;
      if (found.namePattern !== undefined) {
        const { globToRegExp, parsePrintfPattern } = await import("../sources/slice-list.js");
        const printf = parsePrintfPattern(found.namePattern);
        const glob = printf === undefined ? globToRegExp(found.namePattern) : undefined;
        names = names.filter((n) => (printf ? printf.parse(n) !== undefined : glob!.test(n)));
        if (names.length === 0) {
          throw new VoxportError("INVALID_SOURCE", `nothing to fetch: no object matches ${source}`);
        }
      }
      names.sort();
      if (flags.dryRun) {
        for (const n of names) process.stdout.write(`${found.store.url}/${n}\n`);
        return;
      }
      const dest: KvStore = openStore(destination);
      const local = dest instanceof FileKvStore;
      let bytes = 0;
      await mapLimit(names, flags.concurrency, async (name) => {
        if (local) {
          // A local copy holds the plain file, whatever encoding the object had in transit.
          const data = await readBytes(found.store, name);
          if (data === undefined)
            throw new VoxportError("NOT_FOUND", `${found.store.url}/${name} disappeared`);
          await dest.put(name, data);
          bytes += data.length;
        } else {
          const object = await found.store.get(name);
          if (object === undefined)
            throw new VoxportError("NOT_FOUND", `${found.store.url}/${name} disappeared`);
          await dest.put(name, object.data, {
            contentEncoding: object.contentEncoding,
            contentType: object.contentType,
          });
          bytes += object.data.length;
        }
      });
      const seconds = (performance.now() - started) / 1000;
      const summary = {
        files: names.length,
        bytes,
        seconds,
        source: found.description,
        destination: dest.url,
      };
      if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      process.stderr.write(
        `fetched ${names.length} file(s), ${formatBytes(bytes)}, from ${found.description} to ` +
          `${dest.url} in ${formatDuration(seconds)}\n`,
      );
    });
}
