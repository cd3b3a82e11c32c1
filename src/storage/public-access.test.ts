import assert from "node:assert/strict";
import { test } from "node:test";
import { isVoxportError } from "../errors.js";
import { MemoryKvStore } from "./drivers/memory.js";
import { SwiftKvStore } from "./drivers/swift.js";
import {
  applyPublicAccess,
  checkPublicAccessSupported,
  mergeOrigins,
  publicAccessFromFlags,
} from "./public-access.js";

test("neither flag: no access change", () => {
  assert.equal(publicAccessFromFlags({}), undefined);
  assert.equal(publicAccessFromFlags({ public: false, cors: [] }), undefined);
});

test("--public alone opens CORS to every origin; --cors alone sets only CORS", () => {
  assert.deepEqual(publicAccessFromFlags({ public: true }), {
    publicRead: true,
    corsOrigins: ["*"],
  });
  assert.deepEqual(
    publicAccessFromFlags({ cors: ["https://b.example.org", "http://localhost:8080"] }),
    { publicRead: false, corsOrigins: ["http://localhost:8080", "https://b.example.org"] },
  );
  assert.deepEqual(publicAccessFromFlags({ public: true, cors: ["https://a.org", "*"] }), {
    publicRead: true,
    corsOrigins: ["*"],
  });
});

test("origins must be * or scheme://host[:port]", () => {
  for (const bad of ["https://a.org/", "https://a.org/path", "a.org", "file:///x", ""]) {
    assert.throws(
      () => publicAccessFromFlags({ cors: [bad] }),
      (e: unknown) => isVoxportError(e, "INVALID_ARGUMENT") && /--cors/.test(e.message),
      bad,
    );
  }
  assert.ok(publicAccessFromFlags({ cors: ["https://a.org:8443"] }));
});

test("mergeOrigins: union, sorted, * absorbs the rest", () => {
  assert.deepEqual(mergeOrigins(["https://b.org"], ["https://a.org", "https://b.org"]), [
    "https://a.org",
    "https://b.org",
  ]);
  assert.deepEqual(mergeOrigins(["*"], ["https://a.org"]), ["*"]);
});

test("stores without an access policy refuse it by name; object stores accept", async () => {
  const mem = new MemoryKvStore("mem://public-access-test");
  assert.throws(
    () => checkPublicAccessSupported(mem),
    (e: unknown) =>
      isVoxportError(e, "INVALID_ARGUMENT") && e.message.includes("mem://public-access-test"),
  );
  await assert.rejects(applyPublicAccess(mem, { publicRead: true, corsOrigins: ["*"] }), (e) =>
    isVoxportError(e, "INVALID_ARGUMENT"),
  );
  const swift = new SwiftKvStore("swift://c/p", {
    settings: {
      authVersion: "token",
      storageUrl: "http://127.0.0.1:1/v1/AUTH_x",
      token: "t",
      origin: "test",
    },
  });
  checkPublicAccessSupported(swift);
});
