import { InvalidArgumentError, type StrataErrorOptions } from "@strata/errdefs";

/**
 * A filter string that does not parse. It is an {@link InvalidArgumentError}
 * (so `isInvalidArgument(err)` holds) that also says where the parser stopped.
 *
 * @example
 * ```ts
 * try {
 *   parseFilters(["labels.a=="]);
 * } catch (err) {
 *   if (err instanceof FilterSyntaxError) console.log(err.position); // 10
 * }
 * ```
 */
export class FilterSyntaxError extends InvalidArgumentError {
  override name: string = "FilterSyntaxError";
  /** The filter string that failed. */
  readonly input: string;
  /** Offset (UTF-16 code units) in `input` where the problem was found. */
  readonly position: number;
  /** What was wrong, without the location. */
  readonly reason: string;

  constructor(input: string, position: number, reason: string, options?: StrataErrorOptions) {
    super(
      `invalid filter ${JSON.stringify(input)}: ${reason} at position ${position} (${mark(input, position)})`,
      options,
    );
    this.input = input;
    this.position = position;
    this.reason = reason;
  }
}

// Shows the input with the offending character bracketed, as containerd's
// parse errors do: `labels.a= >|=|< b`.
function mark(input: string, position: number): string {
  if (position >= input.length) return `${input} >||<`;
  return `${input.slice(0, position)} >|${input.slice(position, position + 1)}|< ${input.slice(position + 1)}`;
}
