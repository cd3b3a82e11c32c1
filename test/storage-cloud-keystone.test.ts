import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { isVoxportError } from "../src/errors.js";
import { SwiftKvStore } from "../src/storage/drivers/swift.js";
import { openStore } from "../src/storage/registry.js";
import { loadSwiftSettings } from "../src/storage/swift-auth.js";
import { runStorageConformance } from "./conformance/storage.js";
import { freePort, skipUnless } from "./servers/common.js";
import { type KeystoneServer, keystoneAvailable, startKeystone } from "./servers/keystone.js";
import { type SwiftServer, startSwift, swiftAvailable } from "./servers/swift.js";

/**
 * Swift behind a real Keystone v3 (Debian's keystone + keystonemiddleware): password auth scoped
 * to a project, the object-store endpoint found in the token's catalog, token renewal on 401,
 * wrong passwords reported without the password. Provisioned by test/setup/provision-swift.mjs
 * (VOXPORT_SKIP_KEYSTONE=1 leaves Keystone out, and these tests then skip).
 */

const skip =
  process.env.VOXPORT_SKIP_KEYSTONE === "1"
    ? "VOXPORT_SKIP_KEYSTONE=1"
    : skipUnless(
        swiftAvailable() && keystoneAvailable(),
        "OpenStack Swift + Keystone",
        "test/setup/provision-swift.mjs",
      );

let keystone: KeystoneServer | undefined;
let swift: SwiftServer | undefined;
let settingsFile: string;
const saved = process.env.SWIFT_SETTINGS;
let seq = 0;

before(async () => {
  if (skip !== undefined) return;
  process.env.VOXPORT_STORAGE_RETRY_BASE_MS = "20";
  const [keystonePort, proxyPort] = [await freePort(), await freePort()];
  const authUrl = `http://127.0.0.1:${keystonePort}/v3`;
  const started = await Promise.allSettled([
    startKeystone({
      port: keystonePort,
      objectStoreUrl: `http://127.0.0.1:${proxyPort}/v1/AUTH_$(project_id)s`,
    }).then((k) => {
      keystone = k;
    }),
    startSwift({
      proxyPort,
      keystone: {
        authUrl,
        username: "admin",
        password: "keystone-admin-Pw-4417",
        project: "admin",
      },
    }).then((s) => {
      swift = s;
    }),
  ]);
  const failed = started.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  // The HBP settings layout, Keystone v3, no os_storage_url: the catalog names Swift.
  settingsFile = join(swift!.dir, "keystone.json");
  await writeFile(
    settingsFile,
    JSON.stringify({
      auth_version: "3",
      os_username: keystone!.username,
      os_password: keystone!.password,
      os_project_name: keystone!.project,
      os_user_domain_name: "Default",
      os_project_domain_name: "Default",
      os_auth_url: keystone!.authUrl,
    }),
    { mode: 0o600 },
  );
  process.env.SWIFT_SETTINGS = settingsFile;
  await new SwiftKvStore("swift://conformance").createContainer();
});

after(async () => {
  await Promise.all([swift?.stop(), keystone?.stop()]);
  if (saved === undefined) delete process.env.SWIFT_SETTINGS;
  else process.env.SWIFT_SETTINGS = saved;
});

if (skip !== undefined) {
  test("storage conformance: swift (keystone v3)", { skip }, () => {});
} else {
  runStorageConformance(
    "swift (keystone v3)",
    async () => openStore(`swift://conformance/k${++seq}`),
    { keepsContentType: true, manyKeys: 300 },
  );
}

describe("swift with keystone v3", { skip }, () => {
  test("the storage URL comes from the catalog (AUTH_<project id>)", async () => {
    const { storageUrl, token } = await new SwiftKvStore("swift://conformance").session();
    assert.match(storageUrl, /\/v1\/AUTH_[0-9a-f]{32}$/);
    assert.ok(token && token.length > 20);
  });

  test("an expired or revoked token is renewed on 401", async () => {
    const store = new SwiftKvStore("swift://conformance/renew");
    await store.put("k", Uint8Array.of(9));
    const auth = (store as unknown as { auth: { current?: { token?: string } } }).auth;
    auth.current!.token = "gAAAAABbogus-token-value";
    assert.deepEqual((await store.get("k"))?.data, Uint8Array.of(9));
    assert.notEqual(auth.current?.token, "gAAAAABbogus-token-value");
  });

  test("a wrong password: one clear error without the password", async () => {
    const password = "not-the-Keystone-pw-99";
    const file = join(swift!.dir, "wrong.json");
    await writeFile(
      file,
      JSON.stringify({
        auth_version: "3",
        os_username: "admin",
        os_password: password,
        os_project_name: "admin",
        os_auth_url: keystone!.authUrl,
      }),
      { mode: 0o600 },
    );
    const store = new SwiftKvStore("swift://conformance/x", {
      settings: loadSwiftSettings({ SWIFT_SETTINGS: file }),
    });
    const e = await store.get("k").then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(isVoxportError(e, "STORAGE"), String(e));
    assert.match(e.message, /authentication failed .*HTTP 401/);
    assert.ok(e.message.includes(file));
    assert.ok(!e.message.includes(password) && !String(e.stack).includes(password));
  });
});
