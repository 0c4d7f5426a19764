/** What an {@link Adaptor} answers for one field path. */
export interface FieldValue {
  /** The field's value; `""` when the field is absent. */
  readonly value: string;
  /** Whether the object has the field at all (what a bare `fieldpath` selector tests). */
  readonly present: boolean;
}

/**
 * Looks a field path up on one object for a filter: `["labels", "a.b"]` for
 * `labels."a.b"`, `["digest"]` for `digest`. Each store writes one for its
 * object type (content info, ingest status, lease, snapshot).
 */
export type Adaptor = (fieldpath: readonly string[]) => FieldValue;

/** The answer for a field the object does not have. */
export const ABSENT: FieldValue = Object.freeze({ value: "", present: false });

/** The fields and labels {@link objectAdaptor} exposes. */
export interface ObjectFields {
  /** Top-level fields by name (`digest`, `size`, `ref`, `id`, ...); `undefined` = absent. */
  readonly fields?: Readonly<Record<string, string | undefined>>;
  /** Labels, reachable as `labels.<key>`; keys may contain dots. */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * An adaptor for the usual shape of a containerd object: a few named string
 * fields plus a label map.
 *
 * A one-part path names a field; `labels.<rest>` names the label whose key is
 * the rest of the path joined with `.`, so `labels.a.b` and `labels."a.b"`
 * find the same label (as containerd's adaptors do). A label counts as
 * present when its key is in the map, even with an empty value. Paths with
 * more parts on a plain field are absent.
 *
 * @example
 * ```ts
 * const adaptor = objectAdaptor({
 *   fields: { digest: info.digest, size: String(info.size) },
 *   labels: info.labels,
 * });
 * parseFilters(['labels."containerd.io/gc.root"']).match(adaptor);
 * ```
 */
export function objectAdaptor(object: ObjectFields): Adaptor {
  const fields = object.fields ?? {};
  const labels = object.labels ?? {};
  return (fieldpath) => {
    const [head, ...rest] = fieldpath;
    if (head === undefined) return ABSENT;
    if (head === "labels") {
      if (rest.length === 0) return { value: "", present: Object.keys(labels).length > 0 };
      const key = rest.join(".");
      return Object.hasOwn(labels, key) ? { value: labels[key] ?? "", present: true } : ABSENT;
    }
    if (rest.length > 0 || !Object.hasOwn(fields, head)) return ABSENT;
    const value = fields[head];
    return value === undefined ? ABSENT : { value, present: true };
  };
}
