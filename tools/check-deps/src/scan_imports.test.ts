import { describe, expect, it } from "vitest";
import { scanImports } from "./scan_imports.ts";

const specs = (source: string): string[] => scanImports(source).map((r) => r.specifier);

describe("scanImports", () => {
  it("finds static imports of every clause shape", () => {
    const source = [
      'import a from "d1";',
      'import * as ns from "d2";',
      'import { x, y as z } from "d3";',
      'import b, { c } from "d4";',
      'import c2, * as ns2 from "d5";',
      "import {\n  multi,\n  line,\n} from 'd6';",
      'import { "odd-name" as odd } from "d7";',
      'import from from "d8";',
      'import { from } from "d9";',
    ].join("\n");
    expect(specs(source)).toEqual(["d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"]);
    expect(scanImports(source).every((r) => r.kind === "static" && !r.typeOnly)).toBe(true);
  });

  it("finds side-effect imports", () => {
    expect(scanImports("import './setup.ts';")).toEqual([
      { specifier: "./setup.ts", line: 1, kind: "side-effect", typeOnly: false },
    ]);
  });

  it("finds type-only imports and marks them", () => {
    const refs = scanImports(
      [
        'import type { A } from "t1";',
        'import type B from "t2";',
        'import type * as C from "t3";',
        'import { type D, E } from "t4";',
        'import type from "t5";',
      ].join("\n"),
    );
    expect(refs.map((r) => [r.specifier, r.typeOnly])).toEqual([
      ["t1", true],
      ["t2", true],
      ["t3", true],
      ["t4", false],
      ["t5", false],
    ]);
  });

  it("finds re-exports", () => {
    const refs = scanImports(
      [
        'export * from "r1";',
        'export * as ns from "r2";',
        'export { a, b as c } from "r3";',
        'export type { T } from "r4";',
        'export type * from "r5";',
        'export { default } from "r6";',
      ].join("\n"),
    );
    expect(refs.map((r) => [r.specifier, r.kind, r.typeOnly])).toEqual([
      ["r1", "re-export", false],
      ["r2", "re-export", false],
      ["r3", "re-export", false],
      ["r4", "re-export", true],
      ["r5", "re-export", true],
      ["r6", "re-export", false],
    ]);
  });

  it("finds dynamic imports with a literal argument, also in type positions", () => {
    const source = [
      'const m = await import("dyn1");',
      "const n = import('dyn2', { with: { type: 'json' } });",
      "type T = typeof import(`dyn3`);",
      'let x: import("dyn4").Foo;',
    ].join("\n");
    expect(scanImports(source).map((r) => [r.specifier, r.kind, r.line])).toEqual([
      ["dyn1", "dynamic", 1],
      ["dyn2", "dynamic", 2],
      ["dyn3", "dynamic", 3],
      ["dyn4", "dynamic", 4],
    ]);
  });

  it("ignores dynamic imports whose argument is computed", () => {
    expect(specs('await import(name); await import("a" + b); await import(`x\u0024{y}`);')).toEqual(
      [],
    );
  });

  it("ignores local exports and declarations that are not re-exports", () => {
    const source = [
      "export { a, b };",
      "export const from = 'x';",
      "export function f() {}",
      "export type U = 'not-a-module';",
      "export default 'y';",
    ].join("\n");
    expect(specs(source)).toEqual([]);
  });

  it("does not take the next statement as the source of a local export", () => {
    const source = 'export { a }\nimport b from "real";';
    expect(scanImports(source)).toEqual([
      { specifier: "real", line: 2, kind: "static", typeOnly: false },
    ]);
  });

  it("ignores import text in comments", () => {
    const source = [
      '// import a from "c1";',
      '/* import b from "c2";',
      '   export * from "c3"; */',
      '/** @example import("c4") */',
      'import ok from "real";',
    ].join("\n");
    expect(scanImports(source)).toEqual([
      { specifier: "real", line: 5, kind: "static", typeOnly: false },
    ]);
  });

  it("ignores import text inside strings and templates", () => {
    const source = [
      "const s = 'import a from \"s1\"';",
      "const d = \"export * from 's2'\";",
      "const t = `import b from 's3'`;",
      'const e = "escaped \\" import(\'s4\') \\"";',
      'import ok from "real";',
    ].join("\n");
    expect(specs(source)).toEqual(["real"]);
  });

  it("finds imports inside template substitutions but not in template text", () => {
    const source =
      "const t = `text import('no') \u0024{await import('yes')} more \u0024{ {a: `in \u0024{'x'}`}.a } import('no2')`;";
    expect(specs(source)).toEqual(["yes"]);
  });

  it("ignores import text inside regex literals", () => {
    const source = [
      "const r = /import x from 'r1'/g;",
      "const q = x.replace(/[/'\"]/g, '');",
      "if (ok) return /export * from 'r2'/.test(s);",
      'import ok from "real";',
    ].join("\n");
    expect(specs(source)).toEqual(["real"]);
  });

  it("tells division from a regex literal", () => {
    // Read as a regex, each `/ ... /` span would swallow the import between.
    expect(specs('const q = total / 2; import a from "one"; const r = n / 4;')).toEqual(["one"]);
    expect(specs('f(a) / 2; import b from "two"; g(c) / 3;')).toEqual(["two"]);
    expect(specs('x[0] / 2; import c from "three"; y[1] / 3;')).toEqual(["three"]);
  });

  it("ignores members and properties named import or export", () => {
    const source = [
      "loader.import('m1');",
      "const o = { import: 'm2', export: 'm3' };",
      "const u = import.meta.url;",
      "obj?.export('m4');",
    ].join("\n");
    expect(specs(source)).toEqual([]);
  });

  it("reports the line of the specifier across multi-line comments and strings", () => {
    const source = [
      "/*",
      " * two",
      " */",
      "const s = `a",
      "b`;",
      "import {",
      "  x,",
      '} from "here";',
    ].join("\n");
    expect(scanImports(source)).toEqual([
      { specifier: "here", line: 8, kind: "static", typeOnly: false },
    ]);
  });

  it("survives unterminated strings, comments and templates", () => {
    expect(specs('import a from "ok";\nconst s = "open')).toEqual(["ok"]);
    expect(specs('import a from "ok";\n/* open')).toEqual(["ok"]);
    expect(specs('import a from "ok";\nconst t = `open ${x')).toEqual(["ok"]);
    expect(specs("")).toEqual([]);
  });

  it("keeps the escaped characters of a specifier", () => {
    expect(specs('import a from "./we\\"ird.ts";')).toEqual(['./we"ird.ts']);
  });
});
