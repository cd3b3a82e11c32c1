import { benchQueue } from "./queue.js";
const only = (process.argv[2] ?? "fq").split(",") as ("fq"|"redis")[];
const r = await benchQueue({ only, tasks: Number(process.argv[3] ?? 1_000_000), cycles: 2000 });
console.log(JSON.stringify(r, null, 1));
