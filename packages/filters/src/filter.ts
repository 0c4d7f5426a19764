import type { Adaptor } from "./adaptor.ts";

/**
 * How a selector compares a field: `present` (bare field path), `==`, `!=`,
 * or `~=` (regular expression search, unanchored).
 */
export type Operator = "present" | "==" | "!=" | "~=";

/** One `fieldpath[op value]` term of a filter. */
export interface Selector {
  /** The field path, quotes removed: `labels."a.b"` is `["labels", "a.b"]`. */
  readonly fieldpath: readonly string[];
  readonly operator: Operator;
  /** The value to compare with, unquoted; `""` for `present`. */
  readonly value: string;
}

/**
 * A parsed filter: a disjunction (OR) of conjunctions (AND) of selectors.
 * `clauses` is there for stores that translate filters into their own query
 * language; `match` evaluates it against one object.
 */
export interface Filter {
  /** OR of ANDs. `[[]]` matches everything; `[]` matches nothing. */
  readonly clauses: readonly (readonly Selector[])[];
  /** Whether the object behind `adaptor` passes the filter. */
  match(adaptor: Adaptor): boolean;
}

/** Whether one selector holds for the object behind `adaptor`. */
export function matchSelector(selector: Selector, adaptor: Adaptor, pattern?: RegExp): boolean {
  const { value, present } = adaptor(selector.fieldpath);
  switch (selector.operator) {
    case "present":
      return present;
    case "==":
      return present && value === selector.value;
    case "!=":
      // An absent field reads as "", so it differs from any non-empty value.
      return value !== selector.value;
    case "~=":
      return (pattern ?? new RegExp(selector.value)).test(value);
  }
}

// Compiled form: regular expressions are built once, at parse time.
interface CompiledSelector {
  readonly selector: Selector;
  readonly pattern: RegExp | undefined;
}

class ParsedFilter implements Filter {
  readonly clauses: readonly (readonly Selector[])[];
  readonly #compiled: readonly (readonly CompiledSelector[])[];

  constructor(compiled: readonly (readonly CompiledSelector[])[]) {
    this.#compiled = compiled;
    this.clauses = compiled.map((all) => all.map((c) => c.selector));
  }

  match(adaptor: Adaptor): boolean {
    return this.#compiled.some((all) =>
      all.every((c) => matchSelector(c.selector, adaptor, c.pattern)),
    );
  }
}

/** @internal Builds a filter from OR'ed clauses of compiled selectors. */
export function _makeFilter(
  clauses: readonly (readonly { selector: Selector; pattern: RegExp | undefined }[])[],
): Filter {
  return new ParsedFilter(clauses);
}

/** The filter that matches every object (what no filter strings mean). */
export const ALWAYS: Filter = _makeFilter([[]]);
