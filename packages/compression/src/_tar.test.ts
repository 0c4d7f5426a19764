import { execFileSync } from "node:child_process";
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isInvalidArgument } from "@strata/errdefs";
import { afterAll, describe, expect, it } from "vitest";
import { ByteReader } from "./_bytes.ts";
import { concat, type TarHeader, TarReader, tarHeader } from "./_tar.ts";
import { collect, makeTar, once, randomChunks, run, semiRandom } from "./_testing.ts";

async function entries(
  tar: Uint8Array,
  chunks = false,
): Promise<Array<{ header: TarHeader; body: Buffer }>> {
  const reader = new TarReader(new ByteReader(chunks ? randomChunks(tar, 5, 700) : once(tar)));
  const out: Array<{ header: TarHeader; body: Buffer }> = [];
  for (let e = await reader.next(); e !== null; e = await reader.next()) {
    const parts: Uint8Array[] = [];
    for (let p = await reader.readPayload(1000); p !== null; p = await reader.readPayload(1000))
      parts.push(p);
    out.push({ header: e.header, body: Buffer.concat(parts) });
  }
  return out;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}

const dir = mkdtempSync(join(tmpdir(), "strata-tar-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("TarReader", () => {
  const longDir = `${"d".repeat(60)}/${"e".repeat(60)}`;
  const longFile = `${longDir}/${"f".repeat(120)}.txt`;
  mkdirSync(join(dir, "root", longDir), { recursive: true });
  writeFileSync(join(dir, "root", longFile), "long\n");
  writeFileSync(join(dir, "root", "small"), semiRandom(3000, 4));
  writeFileSync(join(dir, "root", longDir, "short.txt"), "prefix\n");
  symlinkSync(`../${"t".repeat(150)}`, join(dir, "root", "link"));
  linkSync(join(dir, "root", "small"), join(dir, "root", "hard"));

  for (const format of ["gnu", "pax", "ustar"] as const) {
    it(`reads GNU tar's ${format} archives, long names and links included`, async () => {
      if (format === "ustar") {
        // ustar holds names up to 255 bytes split into prefix and name.
        const short = `${longDir}/short.txt`;
        const tar = execFileSync("tar", [
          "-C",
          join(dir, "root"),
          "--format=ustar",
          "-cf",
          "-",
          "small",
          "hard",
          short,
        ]);
        const list = await entries(tar);
        expect(list.map((e) => e.header.name)).toEqual(["small", "hard", short]);
        expect(list[2]?.body.toString()).toBe("prefix\n");
        return;
      }
      const tar = execFileSync("tar", [
        "-C",
        join(dir, "root"),
        `--format=${format}`,
        "--sort=name",
        "-cf",
        "-",
        ".",
      ]);
      for (const chunks of [false, true]) {
        const list = await entries(tar, chunks);
        const byName = new Map(list.map((e) => [e.header.name, e]));
        expect(byName.get(`./${longFile}`)?.body.toString()).toBe("long\n");
        expect(byName.get(`./${longFile}`)?.header.type).toBe("reg");
        expect(byName.get("./link")?.header).toMatchObject({
          type: "symlink",
          linkname: `../${"t".repeat(150)}`,
        });
        const small = byName.get("./small");
        const hard = byName.get("./hard");
        const [first, second] = small?.header.type === "reg" ? [small, hard] : [hard, small];
        expect(first?.body.length).toBe(3000);
        expect(second?.header).toMatchObject({ type: "hardlink" });
        expect(byName.get(`./${longDir}/`)?.header.type).toBe("dir");
      }
    });
  }

  it("reads back what tarHeader writes, PAX records included", async () => {
    const body = semiRandom(1000, 1);
    const tar = makeTar([
      { name: "a/", typeflag: "5", mode: 0o750, uid: 5, gid: 6, mtime: 1234567890 },
      { name: `a/${"x".repeat(200)}`, typeflag: "0", body, uname: "me", gname: "us" },
      { name: "a/l", typeflag: "2", linkname: "y".repeat(300) },
      {
        name: "a/attr",
        typeflag: "0",
        body: new Uint8Array(0),
        pax: { "SCHILY.xattr.security.capability": Uint8Array.of(1, 0, 0xff, 2) },
      },
    ]);
    const list = await entries(tar, true);
    expect(list.map((e) => e.header.name)).toEqual(["a/", `a/${"x".repeat(200)}`, "a/l", "a/attr"]);
    expect(list[0]?.header).toMatchObject({
      type: "dir",
      mode: 0o750,
      uid: 5,
      gid: 6,
      mtime: 1234567890,
    });
    expect(Buffer.compare(list[1]?.body ?? Buffer.alloc(0), body)).toBe(0);
    expect(list[1]?.header).toMatchObject({ uname: "me", gname: "us" });
    expect(list[2]?.header.linkname).toBe("y".repeat(300));
    expect([...(list[3]?.header.pax.get("SCHILY.xattr.security.capability") ?? [])]).toEqual([
      1, 0, 0xff, 2,
    ]);
    // GNU tar agrees on what we wrote.
    const listing = run("tar", ["-tvf", "-"], tar).toString();
    expect(listing).toContain("x".repeat(200));
    expect(listing).toContain("y".repeat(300));
  });

  it("keeps every byte available for lossless re-framing", async () => {
    const tar = makeTar([
      { name: "f", typeflag: "0", body: semiRandom(700, 2) },
      { name: "g".repeat(150), typeflag: "0", body: semiRandom(10, 3) },
    ]);
    const withTrailer = concat([tar, new Uint8Array(4096)]);
    const reader = new TarReader(new ByteReader(randomChunks(withTrailer, 9, 300)));
    const parts: Uint8Array[] = [];
    for (let e = await reader.next(); e !== null; e = await reader.next()) {
      parts.push(...e.raw);
      for (let p = await reader.readPayload(64); p !== null; p = await reader.readPayload(64))
        parts.push(p);
      parts.push(await reader.readPadding());
    }
    parts.push(reader.endBlock ?? new Uint8Array(0));
    parts.push(await collect(reader.reader.rest()));
    expect(Buffer.compare(Buffer.from(concat(parts)), Buffer.from(withTrailer))).toBe(0);
  });

  it("rejects a header with a bad checksum", async () => {
    const tar = Buffer.from(makeTar([{ name: "f", typeflag: "0", body: Uint8Array.of(1) }]));
    tar[0] = 0x67;
    const err = await failure(entries(tar));
    expect(isInvalidArgument(err)).toBe(true);
    expect((err as Error).message).toMatch(/bad checksum/);
  });

  it("rejects a truncated archive", async () => {
    const tar = makeTar([{ name: "f", typeflag: "0", body: semiRandom(2000, 1) }]);
    for (const cut of [100, 600, 2000]) {
      expect(isInvalidArgument(await failure(entries(tar.subarray(0, cut)))), `cut ${cut}`).toBe(
        true,
      );
    }
  });

  it("rejects non-octal numbers and unsupported entry types", async () => {
    const bad = Buffer.from(tarHeader({ name: "f", typeflag: "S", size: 0 }));
    expect(isInvalidArgument(await failure(entries(concat([bad, new Uint8Array(1024)]))))).toBe(
      true,
    );
    const nonOctal = Buffer.from(tarHeader({ name: "f", typeflag: "0" }));
    nonOctal.write("9", 100);
    let sum = 0;
    nonOctal.fill(0x20, 148, 156);
    for (const b of nonOctal) sum += b;
    nonOctal.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    expect(
      isInvalidArgument(await failure(entries(concat([nonOctal, new Uint8Array(1024)])))),
    ).toBe(true);
  });
});
