/** How a module specifier was imported. */
export type ImportKind = "static" | "side-effect" | "re-export" | "dynamic";

/** One module specifier found in a source file. */
export interface ImportRef {
  /** The specifier as written, e.g. `@strata/oci` or `./digest.ts`. */
  specifier: string;
  /** The 1-based line of the specifier. */
  line: number;
  /** `import x from`, `import "x"`, `export ... from`, or `import("x")`. */
  kind: ImportKind;
  /** Whether it is `import type` / `export type` (erased at run time). */
  typeOnly: boolean;
}

type TokenType = "ident" | "string" | "punct" | "number" | "regex" | "template";

interface Token {
  type: TokenType;
  /** Identifier or punctuator text; the value of a string or plain template. */
  value: string;
  line: number;
}

// After these keywords an expression starts, so a `/` opens a regex.
const KEYWORDS_BEFORE_EXPRESSION = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

function isIdentStart(c: string): boolean {
  return /[A-Za-z_$#]/.test(c) || c.charCodeAt(0) >= 0x80;
}

function isIdentPart(c: string): boolean {
  return /[\w$]/.test(c) || c.charCodeAt(0) >= 0x80;
}

// A lexer good enough to find import specifiers: it knows comments, strings,
// template literals (with nested `${}`), regex literals and identifiers, and
// treats every other character as a one-character punctuator.
function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  // One entry per open template substitution: the brace depth inside it.
  const templateDepths: number[] = [];
  let line = 1;
  let i = 0;
  const n = source.length;

  const regexAllowed = (): boolean => {
    const prev = tokens.at(-1);
    if (prev === undefined) return true;
    switch (prev.type) {
      case "ident":
        return KEYWORDS_BEFORE_EXPRESSION.has(prev.value);
      case "punct":
        return prev.value !== ")" && prev.value !== "]" && prev.value !== "}";
      default:
        return false;
    }
  };

  // Reads template characters from i (just after ` or the } closing a
  // substitution) up to the closing ` or an opening ${.
  const readTemplate = (startLine: number, head: boolean): void => {
    let text = "";
    while (i < n) {
      const c = source[i] as string;
      if (c === "\\") {
        text += source[i + 1] ?? "";
        if (source[i + 1] === "\n") line++;
        i += 2;
        continue;
      }
      if (c === "`") {
        i++;
        // Only a template without substitutions has a usable value.
        tokens.push({ type: "template", value: head ? text : "", line: startLine });
        if (!head) tokens.push({ type: "punct", value: "`", line });
        return;
      }
      if (c === "$" && source[i + 1] === "{") {
        i += 2;
        tokens.push({ type: "punct", value: "`", line: startLine });
        templateDepths.push(0);
        return;
      }
      if (c === "\n") line++;
      text += c;
      i++;
    }
    tokens.push({ type: "template", value: "", line: startLine });
  };

  while (i < n) {
    const c = source[i] as string;
    const next = source[i + 1];
    if (c === "\n") {
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") {
      i++;
    } else if (c === "/" && next === "/") {
      while (i < n && source[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end === -1 ? n : end + 2;
      for (let j = i; j < stop; j++) if (source[j] === "\n") line++;
      i = stop;
    } else if (c === '"' || c === "'") {
      const startLine = line;
      let value = "";
      i++;
      while (i < n && source[i] !== c && source[i] !== "\n") {
        if (source[i] === "\\") {
          value += source[i + 1] ?? "";
          if (source[i + 1] === "\n") line++;
          i += 2;
        } else {
          value += source[i];
          i++;
        }
      }
      i++;
      tokens.push({ type: "string", value, line: startLine });
    } else if (c === "`") {
      i++;
      readTemplate(line, true);
    } else if (c === "}" && templateDepths.length > 0 && templateDepths.at(-1) === 0) {
      templateDepths.pop();
      i++;
      readTemplate(line, false);
    } else if (c === "/" && regexAllowed()) {
      // A regex literal: up to the unescaped / outside a character class.
      let j = i + 1;
      let inClass = false;
      while (j < n && source[j] !== "\n") {
        const d = source[j];
        if (d === "\\") j++;
        else if (d === "[") inClass = true;
        else if (d === "]") inClass = false;
        else if (d === "/" && !inClass) break;
        j++;
      }
      if (source[j] === "/") {
        j++;
        while (j < n && isIdentPart(source[j] as string)) j++;
        tokens.push({ type: "regex", value: "", line });
        i = j;
      } else {
        tokens.push({ type: "punct", value: "/", line });
        i++;
      }
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(source[j] as string)) j++;
      tokens.push({ type: "ident", value: source.slice(i, j), line });
      i = j;
    } else if (/[0-9]/.test(c) || (c === "." && next !== undefined && /[0-9]/.test(next))) {
      let j = i + 1;
      while (j < n && /[\w.]/.test(source[j] as string)) j++;
      tokens.push({ type: "number", value: source.slice(i, j), line });
      i = j;
    } else {
      if (templateDepths.length > 0) {
        const depth = templateDepths.length - 1;
        if (c === "{") templateDepths[depth] = (templateDepths[depth] ?? 0) + 1;
        else if (c === "}") templateDepths[depth] = (templateDepths[depth] ?? 0) - 1;
      }
      tokens.push({ type: "punct", value: c, line });
      i++;
    }
  }
  return tokens;
}

const isPunct = (t: Token | undefined, value: string): boolean =>
  t !== undefined && t.type === "punct" && t.value === value;

const isIdent = (t: Token | undefined, value?: string): boolean =>
  t !== undefined && t.type === "ident" && (value === undefined || t.value === value);

const isSpecifier = (t: Token | undefined): t is Token =>
  t !== undefined && (t.type === "string" || (t.type === "template" && t.value !== ""));

// From tokens[start], reads a binding clause (`x`, `x, { a, b as c }`,
// `* as ns`, `type { T }`) up to `from "spec"`; returns the specifier token,
// or nothing when the tokens are not such a clause.
function readFromClause(tokens: Token[], start: number): Token | undefined {
  let inBraces = false;
  let closed = false;
  for (let j = start; j < tokens.length; j++) {
    const t = tokens[j] as Token;
    if (!inBraces && isIdent(t, "from") && isSpecifier(tokens[j + 1])) return tokens[j + 1];
    if (closed) return undefined;
    if (inBraces) {
      if (isPunct(t, "}")) {
        inBraces = false;
        closed = true;
      } else if (t.type !== "ident" && t.type !== "string" && !isPunct(t, ",")) {
        return undefined;
      }
    } else if (isPunct(t, "{")) {
      inBraces = true;
    } else if (isIdent(t, "import") || isIdent(t, "export")) {
      return undefined;
    } else if (t.type !== "ident" && !isPunct(t, ",") && !isPunct(t, "*")) {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Finds the module specifiers a TypeScript/JavaScript source imports:
 * `import ... from`, `import "x"`, `import type`, `export ... from`,
 * `export type ... from` and `import("x")` with a literal argument (also in
 * type positions). Comments, strings, template literals and regex literals
 * that merely contain such text are ignored; `import(expr)` with a computed
 * argument cannot be resolved and is left out.
 *
 * @example
 * ```ts
 * scanImports('import { a } from "@strata/oci"; // import "x"');
 * // [{ specifier: "@strata/oci", line: 1, kind: "static", typeOnly: false }]
 * ```
 */
export function scanImports(source: string): ImportRef[] {
  const tokens = tokenize(source);
  const found: ImportRef[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k] as Token;
    if (t.type !== "ident" || (t.value !== "import" && t.value !== "export")) continue;
    // `x.import(...)`, `obj?.export` are members, not module syntax.
    if (isPunct(tokens[k - 1], ".")) continue;
    const next = tokens[k + 1];
    if (t.value === "import") {
      if (isPunct(next, "(")) {
        const arg = tokens[k + 2];
        const after = tokens[k + 3];
        if (isSpecifier(arg) && (isPunct(after, ")") || isPunct(after, ","))) {
          found.push({ specifier: arg.value, line: arg.line, kind: "dynamic", typeOnly: false });
        }
        continue;
      }
      if (isSpecifier(next) && next.type === "string") {
        found.push({
          specifier: next.value,
          line: next.line,
          kind: "side-effect",
          typeOnly: false,
        });
        continue;
      }
      if (!isIdent(next) && !isPunct(next, "{") && !isPunct(next, "*")) continue;
      const spec = readFromClause(tokens, k + 1);
      if (spec !== undefined) {
        // `import type X from` is type-only; `import type from "x"` imports a default named type.
        const typeOnly = isIdent(next, "type") && !isIdent(tokens[k + 2], "from");
        found.push({ specifier: spec.value, line: spec.line, kind: "static", typeOnly });
      }
    } else {
      const typeOnly = isIdent(next, "type");
      const first = typeOnly ? tokens[k + 2] : next;
      if (!isPunct(first, "{") && !isPunct(first, "*")) continue;
      const spec = readFromClause(tokens, typeOnly ? k + 2 : k + 1);
      if (spec !== undefined) {
        found.push({ specifier: spec.value, line: spec.line, kind: "re-export", typeOnly });
      }
    }
  }
  return found;
}
