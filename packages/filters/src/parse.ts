import { _makeFilter, ALWAYS, type Filter, type Operator, type Selector } from "./filter.ts";
import { FilterSyntaxError } from "./filter_syntax_error.ts";

/**
 * Parses filter strings in containerd's syntax. Each string is a
 * comma-separated AND of selectors; several strings are OR'ed; no strings (or
 * an empty string among them) match everything.
 *
 * Grammar (containerd `filters/parser.go`):
 * ```
 * selectors := selector ("," selector)*
 * selector  := fieldpath [operator value]      // no operator: presence test
 * fieldpath := field ("." field)*
 * field     := quoted | [A-Za-z0-9_-]+
 * operator  := "==" | "!=" | "~="
 * value     := quoted | [^\s,]+
 * quoted    := "..." | /.../ | |...|          // Go escapes; / and | suit regexps
 * ```
 * Blanks around operators and commas are ignored.
 *
 * @throws {FilterSyntaxError} (an `InvalidArgumentError`) with the position of
 *   the first problem, also for a `~=` value that is not a valid regular expression.
 *
 * @example
 * ```ts
 * const filter = parseFilters(['labels."com.example/x"==foo,digest~=^sha256:', "labels.keep"]);
 * filter.match(objectAdaptor({ fields: { digest }, labels })); // (x==foo AND digest…) OR keep
 * ```
 */
export function parseFilters(filters: readonly string[]): Filter {
  if (filters.length === 0) return ALWAYS;
  const clauses: CompiledSelector[][] = [];
  for (const input of filters) {
    const parsed = new Parser(input).parse();
    if (parsed === undefined) return ALWAYS;
    clauses.push(parsed);
  }
  return _makeFilter(clauses);
}

/**
 * Parses one filter string (an AND of selectors); `""` matches everything.
 *
 * @throws {FilterSyntaxError} (an `InvalidArgumentError`) on bad syntax.
 */
export function parseFilter(filter: string): Filter {
  return parseFilters([filter]);
}

interface CompiledSelector {
  selector: Selector;
  pattern: RegExp | undefined;
}

const QUOTES = new Set(['"', "/", "|"]);
const OPERATOR_CHARS = new Set(["=", "!", "~"]);
const OPERATORS: ReadonlyMap<string, Operator> = new Map([
  ["==", "=="],
  ["!=", "!="],
  ["~=", "~="],
]);

function isFieldChar(ch: string): boolean {
  return /^[A-Za-z0-9_-]$/.test(ch);
}

function isBlank(ch: string): boolean {
  return /^\s$/u.test(ch);
}

// A value runs until a comma or blank; control characters are not allowed.
function isValueChar(ch: string): boolean {
  return ch !== "," && !/^[\s\p{Cc}]$/u.test(ch);
}

class Parser {
  readonly #input: string;
  #pos = 0;

  constructor(input: string) {
    this.#input = input;
  }

  // undefined: the string is empty (or blank) and matches everything.
  parse(): CompiledSelector[] | undefined {
    if (this.#input.trim() === "") return undefined;
    const nul = this.#input.indexOf("\0");
    if (nul >= 0) throw this.#error("unexpected NUL character", nul);
    const selectors = [this.#selector()];
    for (;;) {
      this.#skipBlanks();
      const ch = this.#peek();
      if (ch === undefined) return selectors;
      if (ch !== ",") throw this.#error(`unexpected input ${JSON.stringify(ch)}`);
      this.#pos++;
      selectors.push(this.#selector());
    }
  }

  #peek(): string | undefined {
    return this.#input[this.#pos];
  }

  #skipBlanks(): void {
    while (this.#pos < this.#input.length && isBlank(this.#input[this.#pos] ?? "")) this.#pos++;
  }

  #error(reason: string, position: number = this.#pos): FilterSyntaxError {
    return new FilterSyntaxError(this.#input, position, reason);
  }

  #selector(): CompiledSelector {
    this.#skipBlanks();
    const fieldpath = this.#fieldpath();
    this.#skipBlanks();
    const next = this.#peek();
    if (next === undefined || next === ",") {
      return { selector: { fieldpath, operator: "present", value: "" }, pattern: undefined };
    }
    const operator = this.#operator();
    this.#skipBlanks();
    const valueStart = this.#pos;
    const value = this.#value();
    let pattern: RegExp | undefined;
    if (operator === "~=") pattern = this.#compile(value, valueStart);
    return { selector: { fieldpath, operator, value }, pattern };
  }

  #fieldpath(): string[] {
    const parts = [this.#field()];
    while (this.#peek() === ".") {
      this.#pos++;
      parts.push(this.#field());
    }
    return parts;
  }

  #field(): string {
    const ch = this.#peek();
    if (ch !== undefined && QUOTES.has(ch)) return this.#quoted();
    const start = this.#pos;
    while (this.#pos < this.#input.length && isFieldChar(this.#input[this.#pos] ?? "")) {
      this.#pos++;
    }
    if (this.#pos === start) {
      throw this.#error(
        ch === undefined
          ? "expected a field name, got the end"
          : "expected a field name or a quoted string",
      );
    }
    return this.#input.slice(start, this.#pos);
  }

  #operator(): Operator {
    const start = this.#pos;
    while (this.#pos < this.#input.length && OPERATOR_CHARS.has(this.#input[this.#pos] ?? "")) {
      this.#pos++;
    }
    const text = this.#input.slice(start, this.#pos);
    if (text === "") throw this.#error('expected an operator ("==", "!=" or "~=")', start);
    const operator = OPERATORS.get(text);
    if (operator === undefined)
      throw this.#error(`unsupported operator ${JSON.stringify(text)}`, start);
    return operator;
  }

  #value(): string {
    const ch = this.#peek();
    if (ch === undefined) throw this.#error("expected a value, got the end");
    if (QUOTES.has(ch)) return this.#quoted();
    // containerd scans these as separator/operator tokens, never as a value start.
    if (ch === "," || ch === "." || OPERATOR_CHARS.has(ch)) {
      throw this.#error("expected a value or a quoted string");
    }
    const start = this.#pos;
    while (this.#pos < this.#input.length && isValueChar(this.#input[this.#pos] ?? "")) {
      this.#pos++;
    }
    if (this.#pos === start) throw this.#error("expected a value or a quoted string");
    return this.#input.slice(start, this.#pos);
  }

  // A quoted string with Go escapes. Inside /.../ and |...| (regular
  // expressions) an unknown escape is kept as written, so `/a\.b/` means the
  // pattern a\.b; inside "..." it is an error, as in Go.
  #quoted(): string {
    const input = this.#input;
    const start = this.#pos;
    const quote = input[start] ?? "";
    const lenient = quote !== '"';
    let out = "";
    let i = start + 1;
    for (;;) {
      const ch = input[i];
      if (ch === undefined || ch === "\n") {
        throw this.#error("quoted string not terminated", start);
      }
      if (ch === quote) break;
      if (ch !== "\\") {
        out += ch;
        i++;
        continue;
      }
      const esc = input[i + 1];
      const escapeAt = i;
      i += 2;
      switch (esc) {
        case "a":
          out += "\x07";
          break;
        case "b":
          out += "\b";
          break;
        case "f":
          out += "\f";
          break;
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "v":
          out += "\v";
          break;
        case "\\":
          out += "\\";
          break;
        case "x":
        case "u":
        case "U": {
          const n = esc === "x" ? 2 : esc === "u" ? 4 : 8;
          const hex = input.slice(i, i + n);
          if (!new RegExp(`^[0-9A-Fa-f]{${n}}$`).test(hex)) {
            throw this.#error("invalid hexadecimal escape in quoted string", escapeAt);
          }
          const code = Number.parseInt(hex, 16);
          if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
            throw this.#error("escape is not a Unicode code point", escapeAt);
          }
          out += String.fromCodePoint(code);
          i += n;
          break;
        }
        default:
          if (esc === quote) {
            out += quote;
          } else if (esc !== undefined && /^[0-7]$/.test(esc)) {
            const oct = input.slice(i - 1, i + 2);
            if (!/^[0-7]{3}$/.test(oct) || Number.parseInt(oct, 8) > 255) {
              throw this.#error("invalid octal escape in quoted string", escapeAt);
            }
            out += String.fromCharCode(Number.parseInt(oct, 8));
            i += 2;
          } else if (lenient && esc !== undefined && esc !== "\n") {
            out += `\\${esc}`;
          } else {
            throw this.#error("invalid escape in quoted string", escapeAt);
          }
      }
    }
    this.#pos = i + 1;
    if (out.includes("\0")) throw this.#error("NUL in quoted string", start);
    return out;
  }

  #compile(value: string, position: number): RegExp {
    // Go regexps allow leading flags like (?i); JavaScript takes them apart.
    let source = value;
    let flags = "";
    const lead = /^\(\?([imsU]+)\)/.exec(value);
    if (lead !== null) {
      const letters = lead[1] ?? "";
      if (letters.includes("U")) {
        throw this.#error("regular expression flag U (ungreedy) is not supported", position);
      }
      flags = [...new Set(letters)].join("");
      source = value.slice(lead[0].length);
    }
    try {
      return new RegExp(source, flags);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new FilterSyntaxError(this.#input, position, `invalid regular expression: ${reason}`, {
        cause,
      });
    }
  }
}
