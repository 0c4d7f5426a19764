/**
 * containerd's filter syntax: `field==value`, `field!=value`, `field~=regexp`,
 * bare `field` (presence), quoted path parts (`labels."com.example/x"`),
 * commas for AND inside one string, several strings OR'ed. Parse once, then
 * match objects through an {@link Adaptor}.
 *
 * @example
 * ```ts
 * import { objectAdaptor, parseFilters } from "@strata/filters";
 *
 * const filter = parseFilters(['labels."containerd.io/gc.root"', "digest~=^sha256:ab"]);
 * filter.match(objectAdaptor({ fields: { digest: "sha256:ab12..." }, labels: {} })); // true
 * ```
 *
 * @module
 */
export {
  ABSENT,
  type Adaptor,
  type FieldValue,
  type ObjectFields,
  objectAdaptor,
} from "./adaptor.ts";
export { ALWAYS, type Filter, matchSelector, type Operator, type Selector } from "./filter.ts";
export { FilterSyntaxError } from "./filter_syntax_error.ts";
export { parseFilter, parseFilters } from "./parse.ts";
