import { spawn } from "node:child_process";
import { type Command, Option } from "commander";
import { remoteSource } from "../viewer/state.js";
import { openDatasets, startView, viewerState } from "../viewer/view.js";
import { parseIntIn } from "./parse.js";

interface ViewFlags {
  port: number;
  open?: boolean;
  layout: string;
  printState?: boolean;
  contrast: boolean;
  verbose?: boolean;
}

const PUBLIC_VIEWER = "https://neuroglancer-demo.appspot.com/";

export function registerView(program: Command): void {
  program
    .command("view")
    .description(
      "Open precomputed datasets in Neuroglancer (a copy bundled with voxport; no internet " +
        "needed).\n\n" +
        "Starts a local server on 127.0.0.1 that serves the viewer and the local datasets, " +
        "and prints a URL whose state shows every dataset as a layer (image or segmentation, " +
        "centred, at the right voxel size). Remote datasets (https://, gs://, s3://) are read " +
        "by the browser directly; s3://bucket/path is read as " +
        "https://bucket.s3.amazonaws.com/path (public buckets only). Every dataset's info is " +
        "checked before the URL is printed. Ctrl-C stops the server.",
    )
    .argument(
      "<dataset...>",
      "dataset folders or URLs (the folder that holds `info`), one layer each",
    )
    .option(
      "-p, --port <n>",
      "port to listen on (0 = any free port)",
      parseIntIn("--port", 0, 65535),
      0,
    )
    .option("--open", "open the URL in the default browser")
    .addOption(
      new Option("--layout <layout>", "Neuroglancer layout")
        .choices(["4panel", "xy", "xz", "yz", "3d", "xy-3d", "xz-3d", "yz-3d"])
        .default("4panel"),
    )
    .option(
      "--print-state",
      "print the Neuroglancer state (JSON) and a link for the public Neuroglancer, then exit " +
        "without serving (for remote datasets)",
    )
    .option("--no-contrast", "do not sample voxels for the contrast of non-uint8 images")
    .option("-v, --verbose", "log every request to stderr")
    .action(async (locations: string[], flags: ViewFlags) => {
      const warn = (m: string) => process.stderr.write(`voxport: warning: ${m}\n`);
      if (flags.printState) {
        const datasets = await openDatasets(locations, { warn, sampleContrast: flags.contrast });
        const local = datasets.filter((d) => !d.remote);
        if (local.length > 0) {
          warn(
            `${local.map((d) => d.location).join(", ")} ${local.length === 1 ? "is" : "are"} local: ` +
              "a state without the server cannot point at local files; run without --print-state",
          );
        }
        const state = viewerState(datasets, (i) => `http://127.0.0.1:PORT/data/${i}`, flags.layout);
        process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
        if (local.length === 0) {
          process.stderr.write(
            `public viewer: ${PUBLIC_VIEWER}#!${encodeURIComponent(JSON.stringify(state))}\n`,
          );
        }
        return;
      }
      const view = await startView(locations, {
        port: flags.port,
        layout: flags.layout,
        sampleContrast: flags.contrast,
        warn,
        onRequest: flags.verbose
          ? (r) => process.stderr.write(`${r.status} ${r.method} ${r.path}\n`)
          : undefined,
      });
      const lines = [`voxport view: serving on ${view.server.baseUrl} (port ${view.server.port})`];
      let local = 0;
      for (const d of view.datasets) {
        const src = d.remote ? remoteSource(d.location) : view.server.dataUrl(local++);
        const what = d.info
          ? `${d.info.type}, ${d.info.data_type}, ${d.info.scales[0].size.join("×")} at ${d.info.scales[0].resolution.join("×")} nm, ${d.info.scales.length} scale(s)` +
            (d.window ? `, contrast ${d.window[0]}–${d.window[1]}` : "")
          : "info not checked";
        lines.push(`  ${d.location} → ${src} (${what})`);
      }
      lines.push("Open this URL in a browser (Ctrl-C to stop):");
      process.stderr.write(`${lines.join("\n")}\n`);
      process.stdout.write(`${view.url}\n`);
      if (flags.open) openBrowser(view.url, warn);

      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          process.stderr.write("\nvoxport view: stopping\n");
          view.close().then(resolve, resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}

function openBrowser(url: string, warn: (m: string) => void): void {
  const [cmd, args] =
    process.platform === "darwin"
      ? ["open", [url]]
      : process.platform === "win32"
        ? ["cmd", ["/c", "start", "", url.replace(/&/g, "^&")]]
        : ["xdg-open", [url]];
  try {
    const child = spawn(cmd, args, { stdio: "ignore", detached: true });
    child.on("error", (e) =>
      warn(`could not open a browser (${cmd}: ${e.message}); open the URL yourself`),
    );
    child.unref();
  } catch (e) {
    warn(`could not open a browser (${(e as Error).message}); open the URL yourself`);
  }
}
