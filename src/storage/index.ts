export { BUILTIN_SCHEMES } from "./builtins.js";
export { FileKvStore, type FileStoreOptions, fileLocationToPath } from "./drivers/file.js";
export { HttpKvStore, type HttpStoreOptions } from "./drivers/http.js";
export { clearMemoryStore, MemoryKvStore } from "./drivers/memory.js";
export { joinKey, keyUrl, readBytes, readJson, requireBytes, writeJson } from "./io.js";
export { checkKey, checkPrefix } from "./keys.js";
export type {
  ByteRange,
  GetOptions,
  KvStore,
  KvStoreCapabilities,
  ObjectStat,
  PutOptions,
  StoredObject,
} from "./kvstore.js";
export type { StoreFactory } from "./registry.js";
export { knownSchemes, openStore, registerScheme } from "./registry.js";
