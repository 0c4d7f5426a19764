export type { TarEntryType, TarHeader } from "./header.ts";
export { type ReadTarOptions, readTar, type TarEntry } from "./read_tar.ts";
export { encodeHeader, type TarWriteEntry, type WriteTarOptions, writeTar } from "./write_tar.ts";
