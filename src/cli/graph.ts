import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { readGraphConfig } from "../graph/config.js";
import { enqueueGraph, prepareGraphIngest } from "../graph/ingest.js";
import { readJob } from "../graph/job.js";
import { graphServer } from "../graph/serve.js";
import { openGraphStore } from "../graph/stores/open.js";
import { syntheticGraph } from "../graph/synthetic.js";
import { writeSyntheticDataset } from "../graph/synthetic-files.js";
import { GraphRunner, graphMessage } from "../graph/tasks.js";
import type { Vec3 } from "../ops/array.js";
import { openQueue, redactUrl } from "../queue/open.js";
import type { Queue } from "../queue/queue.js";
import { isDrained } from "../queue/queue.js";
import type { TaskOutcome } from "../worker/handler.js";
import { WorkerLoop } from "../worker/loop.js";
import { logger } from "./log.js";
import { parseIntIn, parseRatio, parseVec3 } from "./parse.js";

/**
 * `voxport graph …`: build a ChunkedGraph (PyChunkedGraph's layout) from edge, component and
 * watershed files, watch it, and serve its read API. See src/graph/README.md.
 */

interface QueueFlags {
  queue?: string;
}

/** The embedded default: a file queue next to an embedded store, else one in ./graphs. */
function defaultQueue(storeUrl: string, name: string): string {
  if (storeUrl.startsWith("level://")) return `fq://${storeUrl.slice("level://".length)}.queue`;
  return `fq://${resolve("graphs", `${name}.queue`)}`;
}

async function statusLines(queue: Queue, totals: number[]): Promise<string[]> {
  const stats = await queue.stats();
  const lines: string[] = [];
  for (let layer = 2; layer < totals.length; layer++) {
    const s = stats.stages.find((x) => x.stage === layer - 2);
    const extra = s && (s.leased || s.dead) ? `  (${s.leased} running, ${s.dead} failed)` : "";
    lines.push(`${layer}\t: ${s?.done ?? 0} / ${totals[layer]}${extra}`);
  }
  return lines;
}

export function registerGraph(program: Command): void {
  const graph = program
    .command("graph")
    .description(
      "ChunkedGraph ingest: the hierarchical supervoxel graph proofreading tools read.\n\n" +
        "Example:\n" +
        "  voxport graph synth ./demo-graph --size 256,256,64\n" +
        "  voxport graph ingest fly ./demo-graph/dataset.yml\n" +
        "  voxport graph serve fly ./demo-graph/dataset.yml --port 4000",
    );

  graph
    .command("ingest")
    .description(
      "Build graph NAME from the config's edges, components and watershed, layer by layer.\n" +
        "Without --queue the build runs here on an embedded file queue until done (rerun to\n" +
        "resume). With --queue it only enqueues the layer-2 chunks: start `voxport work URL`\n" +
        "on any machines; parents are enqueued as their children finish.",
    )
    .argument("<name>", "graph name (the table is ID_PREFIX + NAME)")
    .argument("<config>", "dataset.yml in PyChunkedGraph's format")
    .option(
      "--queue <url>",
      "enqueue on this queue (fq://, redis://, sqs://) instead of running here",
    )
    .option("--test", "build only the column above the centre L3 chunk (up to 8 L2 chunks)")
    .option(
      "-w, --workers <n>",
      "chunks built at once when running here",
      parseIntIn("--workers", 1, 256),
      Math.min(availableParallelism(), 4),
    )
    .action(
      async (
        name: string,
        configPath: string,
        flags: QueueFlags & { test?: boolean; workers: number },
      ) => {
        const log = logger();
        const config = await readGraphConfig(configPath);
        const prepared = await prepareGraphIngest(name, config, { test: flags.test });
        const url = flags.queue ?? defaultQueue(prepared.storeUrl, name);
        const queue = await openQueue(url);
        try {
          const added = await enqueueGraph(prepared, queue);
          const layers = prepared.job.layout.layerCount;
          log.info(
            { graph: name, store: prepared.storeUrl, queue: redactUrl(url), layers, added },
            `graph ${name}: ${layers} layers, ${prepared.totals[2]} layer-2 chunks (${added} newly enqueued) on ${redactUrl(url)}`,
          );
          if (flags.queue) {
            process.stderr.write(`enqueued; start workers with: voxport work ${redactUrl(url)}\n`);
            return;
          }
          const runner = new GraphRunner();
          const started = performance.now();
          let done = 0;
          const total = prepared.totals.reduce((a, b) => a + b, 0);
          const loop = new WorkerLoop({
            queue,
            concurrency: flags.workers,
            leaseMs: 120_000,
            waitMs: 0,
            exitWhenEmpty: true,
            handler: async (lease): Promise<TaskOutcome> => {
              const r = await runner.run(graphMessage.parse(JSON.parse(lease.body)));
              return { kind: "graph", parents: r.parents };
            },
            onEvent: (e) => {
              if (e.type === "done") {
                done++;
                if (process.stderr.isTTY)
                  process.stderr.write(`\rgraph ${name}: ${done}/${total} chunks`);
              } else if (e.type === "failed") {
                log.warn(
                  { task: e.lease.id, error: e.error },
                  `chunk ${e.lease.id} failed: ${e.error}`,
                );
              }
            },
          });
          const stop = () => loop.stop();
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
          const summary = await loop.run();
          await runner.close();
          if (process.stderr.isTTY) process.stderr.write("\n");
          for (const line of await statusLines(queue, prepared.totals))
            process.stderr.write(`${line}\n`);
          const secs = (performance.now() - started) / 1000;
          if (summary.dead > 0 || !isDrained(await queue.stats())) {
            log.error(
              { dead: summary.dead },
              `graph ${name}: ${summary.dead} chunk(s) failed; see voxport status ${redactUrl(url)}`,
            );
            process.exitCode = 1;
            return;
          }
          log.info(
            { graph: name, chunks: done, seconds: secs },
            `graph ${name} built: ${done} chunks in ${secs.toFixed(1)} s`,
          );
        } finally {
          await queue.close();
        }
      },
    );

  graph
    .command("status")
    .description("Per layer: chunks built / chunks planned (as PyChunkedGraph's `ingest status`).")
    .argument("<name>")
    .argument("<config>")
    .option("--queue <url>", "the queue the build runs on (default: the embedded one)")
    .action(async (name: string, configPath: string, flags: QueueFlags) => {
      const config = await readGraphConfig(configPath);
      const prepared = await prepareGraphIngest(name, config);
      const queue = await openQueue(flags.queue ?? defaultQueue(prepared.storeUrl, name));
      try {
        const meta = (await queue.getMeta())[`graph:${name}`];
        const totals = meta ? (JSON.parse(meta) as { totals: number[] }).totals : prepared.totals;
        for (const line of await statusLines(queue, totals)) process.stdout.write(`${line}\n`);
      } finally {
        await queue.close();
      }
    });

  graph
    .command("flush")
    .description(
      "Forget the build's queue state (PyChunkedGraph's flush_redis); the graph store is kept.",
    )
    .argument("<name>")
    .argument("<config>")
    .option("--queue <url>", "the queue the build ran on (default: the embedded one)")
    .action(async (name: string, configPath: string, flags: QueueFlags) => {
      const config = await readGraphConfig(configPath);
      const prepared = await prepareGraphIngest(name, config);
      const url = flags.queue ?? defaultQueue(prepared.storeUrl, name);
      const queue = await openQueue(url);
      try {
        await queue.purge();
        process.stderr.write(`flushed ${redactUrl(url)}\n`);
      } finally {
        await queue.close();
      }
    });

  graph
    .command("serve")
    .description(
      "Serve the graph's read API for Neuroglancer (graphene://http://HOST:PORT/segmentation/table/TABLE)\n" +
        "and CAVEclient: info, root, roots, roots_binary, children, leaves (with bounds).",
    )
    .argument("<name>")
    .argument("<config>")
    .option("--port <n>", "port", parseIntIn("--port", 0, 65535), 4000)
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .action(async (name: string, configPath: string, flags: { port: number; host: string }) => {
      const config = await readGraphConfig(configPath);
      const prepared = await prepareGraphIngest(name, config);
      const { store, close } = await openGraphStore(prepared.storeUrl);
      const job = await readJob(store, prepared.storeUrl);
      const app = await graphServer({ store, job });
      const address = await app.listen({ port: flags.port, host: flags.host });
      const table = `${config.graph_config.ID_PREFIX}${name}`;
      process.stderr.write(`serving ${table} at ${address}/segmentation/table/${table}\n`);
      const stop = async () => {
        await app.close();
        await close();
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });

  graph
    .command("synth")
    .description(
      "Write a consistent synthetic dataset (watershed, edges, components, dataset.yml) for\n" +
        "trying the pipeline and for benchmarks.",
    )
    .argument("<dir>", "folder or URL to write into")
    .option(
      "--size <x,y,z>",
      "volume size in voxels",
      parseVec3("--size", { integer: true, positive: true }),
      [128, 128, 64],
    )
    .option(
      "--chunk-size <x,y,z>",
      "graph chunk size",
      parseVec3("--chunk-size", { integer: true, positive: true }),
      [32, 32, 32],
    )
    .option("--sv-size <n>", "edge of the cubic supervoxels", parseIntIn("--sv-size", 1, 1024), 4)
    .option("--merge <p>", "probability that two touching supervoxels are merged", parseRatio, 0.3)
    .option("--seed <n>", "random seed", parseIntIn("--seed", 0, 2 ** 31), 1)
    .action(
      async (
        dir: string,
        flags: { size: Vec3; chunkSize: Vec3; svSize: number; merge: number; seed: number },
      ) => {
        const root = /^[a-z][a-z0-9+.-]*:\/\//i.test(dir) ? dir : `file://${resolve(dir)}`;
        const g = syntheticGraph({
          size: flags.size,
          chunkSize: flags.chunkSize,
          svSize: flags.svSize,
          mergeProbability: flags.merge,
          crossProbability: 0.02,
          seed: flags.seed,
        });
        await writeSyntheticDataset(g, root);
        process.stderr.write(
          `wrote ${g.supervoxels.length} supervoxels, ${g.edgeCount} edges, ${g.objects.length} objects to ${root}\n` +
            `next: voxport graph ingest NAME ${root.startsWith("file://") ? `${dir.replace(/\/+$/, "")}/dataset.yml` : "dataset.yml"}\n`,
        );
      },
    );
}
