import assert from "node:assert/strict";
import { test } from "node:test";
import { enqueueInFlight } from "./queue.js";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("enqueueInFlight: at most `depth` calls at once, lazily, the counts summed", async () => {
  let running = 0;
  let most = 0;
  let made = 0;
  let finished = 0;
  const calls = function* () {
    for (let i = 0; i < 10; i++) {
      made++;
      assert.ok(made <= finished + 3, "a call is made only when a slot is free");
      yield async () => {
        running++;
        most = Math.max(most, running);
        await tick(5 + (i % 3) * 5);
        running--;
        finished++;
        return i;
      };
    }
  };
  assert.equal(await enqueueInFlight(calls(), 3), 45);
  assert.equal(most, 3);
});

test("enqueueInFlight: a failure stops new calls, lets started ones settle, then is thrown", async () => {
  const settled: number[] = [];
  const calls = function* () {
    for (let i = 0; i < 10; i++) {
      yield async () => {
        await tick(i === 1 ? 1 : 20);
        settled.push(i);
        if (i === 1) throw new Error("boom");
        return 1;
      };
    }
  };
  await assert.rejects(enqueueInFlight(calls(), 4), /boom/);
  assert.deepEqual(
    settled.sort(),
    [0, 1, 2, 3],
    "the calls started before the failure settled; none started after it",
  );
});
