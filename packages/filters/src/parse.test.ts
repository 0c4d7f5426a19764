import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { objectAdaptor } from "./adaptor.ts";
import { FilterSyntaxError } from "./filter_syntax_error.ts";
import { parseFilter, parseFilters } from "./parse.ts";

const image = objectAdaptor({
  fields: { name: "docker.io/library/alpine:3.20", digest: "sha256:abcd", size: "42", empty: "" },
  labels: {
    "com.example/x": "foo",
    "a.b": "dotted",
    plain: "bar",
    blank: "",
    "with space": "v 1",
  },
});

function matches(...filters: string[]): boolean {
  return parseFilters(filters).match(image);
}

function syntaxError(filter: string): FilterSyntaxError {
  try {
    parseFilter(filter);
  } catch (err) {
    expect(err).toBeInstanceOf(FilterSyntaxError);
    expect(isInvalidArgument(err)).toBe(true);
    return err as FilterSyntaxError;
  }
  throw new Error(`filter ${JSON.stringify(filter)} parsed, expected a syntax error`);
}

describe("parseFilters", () => {
  it("matches everything when given no filters or an empty one", () => {
    expect(parseFilters([]).match(image)).toBe(true);
    expect(parseFilters([""]).match(image)).toBe(true);
    expect(parseFilters(["name==nope", ""]).match(image)).toBe(true);
    expect(parseFilters([]).clauses).toEqual([[]]);
  });

  it("tests equality and inequality of a field", () => {
    expect(matches("name==docker.io/library/alpine:3.20")).toBe(true);
    expect(matches("name==alpine")).toBe(false);
    expect(matches("name!=alpine")).toBe(true);
    expect(matches("name!=docker.io/library/alpine:3.20")).toBe(false);
  });

  it("treats an absent field as empty for != and as unequal for ==", () => {
    expect(matches("missing!=x")).toBe(true);
    expect(matches('missing==""')).toBe(false);
    expect(matches('missing!=""')).toBe(false);
  });

  it("tests presence with a bare field path", () => {
    expect(matches("name")).toBe(true);
    expect(matches("missing")).toBe(false);
    expect(matches("labels.plain")).toBe(true);
    expect(matches("labels.blank")).toBe(true);
    expect(matches("labels.nope")).toBe(false);
    expect(matches("empty")).toBe(true);
  });

  it("reads quoted field path parts, including slashes and dots", () => {
    expect(matches('labels."com.example/x"==foo')).toBe(true);
    expect(matches('labels."com.example/x"==bar')).toBe(false);
    expect(matches('labels."a.b"==dotted')).toBe(true);
    expect(matches("labels.a.b==dotted")).toBe(true);
    expect(matches('labels."with space"=="v 1"')).toBe(true);
    expect(parseFilter('labels."com.example/x"').clauses).toEqual([
      [{ fieldpath: ["labels", "com.example/x"], operator: "present", value: "" }],
    ]);
  });

  it("matches a regular expression anywhere in the value with ~=", () => {
    expect(matches("name~=alpine")).toBe(true);
    expect(matches("name~=^alpine")).toBe(false);
    expect(matches("name~=/alpine:3\\.\\d+$/")).toBe(true);
    expect(matches("name~=|^docker\\.io/|")).toBe(true);
    expect(matches("name~=(?i)ALPINE")).toBe(true);
    expect(matches("name~=ALPINE")).toBe(false);
    expect(matches("missing~=^$")).toBe(true);
  });

  it("ANDs the selectors of one string", () => {
    expect(matches("name~=alpine,labels.plain==bar")).toBe(true);
    expect(matches("name~=alpine,labels.plain==baz")).toBe(false);
    expect(matches("name~=alpine , labels.plain == bar")).toBe(true);
  });

  it("ORs several strings", () => {
    expect(matches("name==x", "labels.plain==bar")).toBe(true);
    expect(matches("name==x", "labels.plain==baz")).toBe(false);
    const filter = parseFilters(["a==1,b", "c!=2"]);
    expect(filter.clauses).toEqual([
      [
        { fieldpath: ["a"], operator: "==", value: "1" },
        { fieldpath: ["b"], operator: "present", value: "" },
      ],
      [{ fieldpath: ["c"], operator: "!=", value: "2" }],
    ]);
  });

  it("keeps punctuation, dots and = inside unquoted values", () => {
    expect(parseFilter("labels.x==a=b.c:d/e@f").clauses[0]?.[0]?.value).toBe("a=b.c:d/e@f");
    expect(matches("digest==sha256:abcd")).toBe(true);
    expect(matches("size==42")).toBe(true);
  });

  it("decodes Go escapes in quoted strings", () => {
    expect(parseFilter('x=="a\\"b\\\\c\\td\\x41\\u00e9\\101"').clauses[0]?.[0]?.value).toBe(
      'a"b\\c\td' + "A\u00e9A",
    );
    expect(parseFilter('x=="é,ü"').clauses[0]?.[0]?.value).toBe("é,ü");
    expect(parseFilter("x==/a\\/b/").clauses[0]?.[0]?.value).toBe("a/b");
    expect(parseFilter("x==/a\\.b/").clauses[0]?.[0]?.value).toBe("a\\.b");
  });
});

describe("parseFilter syntax errors", () => {
  const cases: [string, number, RegExp][] = [
    ["name==", 6, /expected a value/],
    ["name=", 4, /unsupported operator "="/],
    ["name===x", 4, /unsupported operator "==="/],
    ["name=~x", 4, /unsupported operator "=~"/],
    ["name x", 5, /expected an operator/],
    ["name==a b", 8, /unexpected input "b"/],
    ["name==a,", 8, /expected a field name, got the end/],
    [",name", 0, /expected a field name/],
    ["labels.", 7, /expected a field name/],
    ["labels..x", 7, /expected a field name/],
    ["labels .x", 7, /expected an operator/],
    ['labels."unterminated', 7, /not terminated/],
    ['x=="bad \\q escape"', 8, /invalid escape/],
    ['x=="\\xZZ"', 4, /invalid hexadecimal escape/],
    ["x==.5", 3, /expected a value/],
    ["x==,", 3, /expected a value/],
    ["x~=/(unclosed/", 3, /invalid regular expression/],
    ["x~=(?U)a", 3, /ungreedy/],
    ["x==a\0", 4, /NUL/],
    ["@x", 0, /expected a field name/],
  ];
  for (const [input, position, reason] of cases) {
    it(`rejects ${JSON.stringify(input)} at ${position}`, () => {
      const err = syntaxError(input);
      expect(err.input).toBe(input);
      expect(err.position).toBe(position);
      expect(err.reason).toMatch(reason);
      expect(err.message).toContain(JSON.stringify(input));
    });
  }

  it("rejects the whole set when one string is bad", () => {
    expect(() => parseFilters(["name==x", "name=="])).toThrow(FilterSyntaxError);
  });

  it("marks the failing character in the message", () => {
    expect(syntaxError("name x").message).toContain("name  >|x|<");
  });
});
