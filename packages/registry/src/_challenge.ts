// Parsing of `WWW-Authenticate` headers (RFC 7235): one or more challenges,
// each a scheme followed by comma-separated `key=value` or `key="quoted"`.

/** One authentication challenge: the scheme in lower case and its parameters. */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;

/** Parses every challenge in a `WWW-Authenticate` value; junk ends the parse. */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < header.length && (header[i] === " " || header[i] === "\t")) i++;
  };
  const token = (): string | undefined => {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(header);
    if (m === null) return undefined;
    i += m[0].length;
    return m[0];
  };
  while (i < header.length) {
    skipSpace();
    while (header[i] === ",") {
      i++;
      skipSpace();
    }
    const scheme = token();
    if (scheme === undefined) break;
    const params: Record<string, string> = {};
    for (;;) {
      skipSpace();
      const save = i;
      const key = token();
      skipSpace();
      if (key === undefined || header[i] !== "=") {
        i = save;
        break;
      }
      i++;
      skipSpace();
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < header.length && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < header.length) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        value = token() ?? "";
      }
      params[key.toLowerCase()] = value;
      skipSpace();
      if (header[i] !== ",") break;
      i++;
    }
    out.push({ scheme: scheme.toLowerCase(), params });
  }
  return out;
}
