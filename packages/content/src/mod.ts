/**
 * containerd's content store in TypeScript: the interfaces (`Provider`,
 * `Ingester`, `Manager`, `IngestManager`, `Store`), the local store with
 * resumable, verified, crash-safe ingests, and helpers to copy, read and
 * write blobs as streams. The conformance suite is `@strata/content/testsuite`.
 *
 * @example
 * ```ts
 * import { LocalStore, readBlob, writeBlob } from "@strata/content";
 *
 * const store = await LocalStore.open("/var/lib/strata/content");
 * await writeBlob(store, "config-1", bytes, { digest, size: bytes.length });
 * const back = await readBlob(store, { digest }, { maxSize: 1 << 20 });
 * ```
 *
 * @module
 */

export type {
  CommitOptions,
  Info,
  Ingester,
  IngestManager,
  Manager,
  Provider,
  ReaderAt,
  Status,
  Store,
  Writer,
  WriterOptions,
} from "./content.ts";
export { type CopyOptions, type CopySource, copy } from "./copy.ts";
export { FileReaderAt } from "./file_reader_at.ts";
export { LocalStore, type LocalStoreOptions } from "./local_store.ts";
export { MultiProvider } from "./multi_provider.ts";
export { OciLayoutProvider } from "./oci_layout_provider.ts";
export { openWriter } from "./open_writer.ts";
export { readBlob } from "./read_blob.ts";
export { READ_CHUNK_SIZE, type ReadChunksOptions, readChunks } from "./read_chunks.ts";
export { DEFAULT_CHUNK_SIZE, readerStream } from "./reader_stream.ts";
export { writeBlob } from "./write_blob.ts";
