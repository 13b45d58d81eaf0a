// Reads `[project].dependencies` out of a pyproject.toml: just enough TOML for that one array of
// strings (tables, comments, basic and literal strings, multi-line arrays), not a TOML parser.
// Everything else in the file is skipped. Pure: text in, requirement lines out, or one clear error.

/** A pyproject.toml larger than this is refused (a real one is a few KiB). */
export const MAX_PYPROJECT_BYTES = 1024 * 1024;
/** The most dependencies read. */
export const MAX_DEPENDENCIES = 10_000;

export class PyprojectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PyprojectError';
  }
}

const HEADER = /^\s*(\[\[?)\s*([^\]#]*?)\s*\]\]?\s*(#.*)?$/;
const KEY = /^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_.-]+))\s*=\s*/;

/** Table or key names as written (`"project"`, `project`) → their plain dotted form. */
function plainName(name: string): string {
  return name
    .split('.')
    .map((part) => part.trim().replace(/^"(.*)"$|^'(.*)'$/, '$1$2'))
    .join('.');
}

/** The dependencies of `[project]`; throws PyprojectError naming what is wrong. */
export function pyprojectDependencies(text: string): string[] {
  if (Buffer.byteLength(text) > MAX_PYPROJECT_BYTES) {
    throw new PyprojectError(`is larger than ${MAX_PYPROJECT_BYTES / 1024} KiB`);
  }
  let table = '';
  let sawProject = false;
  let inMultiline: string | null = null;
  let offset = 0;
  for (const line of text.split('\n')) {
    const lineStart = offset;
    offset += line.length + 1;
    // Skip the inside of multi-line strings (a readme written into the file, say).
    let skip = inMultiline !== null;
    for (const quote of ['"""', "'''"]) {
      if ((line.split(quote).length - 1) % 2 === 0) continue;
      if (inMultiline === null) inMultiline = quote;
      else if (inMultiline === quote) inMultiline = null;
      skip = true;
    }
    if (skip || inMultiline !== null) continue;
    const header = HEADER.exec(line);
    if (header) {
      table = header[1] === '[[' ? `[[${plainName(header[2]!)}]]` : plainName(header[2]!);
      if (table === 'project') sawProject = true;
      continue;
    }
    const key = KEY.exec(line);
    if (!key) continue;
    const name = plainName(key[1] ?? key[2] ?? key[3]!);
    const full = table ? `${table}.${name}` : name;
    if (full === 'project.dynamic' && /["']dependencies["']/.test(line)) {
      throw new PyprojectError(
        'declares its dependencies as dynamic (project.dynamic): list them in [project].dependencies, or use a requirements.txt',
      );
    }
    if (full === 'project.dependencies') {
      return readStringArray(text, lineStart + key[0].length);
    }
  }
  throw new PyprojectError(
    sawProject ? 'has no dependencies in [project]' : 'has no [project] table with dependencies',
  );
}

/** Reads `[ "a", 'b', ]` starting at `at` (comments and newlines allowed between items). */
function readStringArray(text: string, at: number): string[] {
  let i = at;
  const fail = (what: string): never => {
    const line = text.slice(0, i).split('\n').length;
    throw new PyprojectError(`line ${line}: [project].dependencies: ${what}`);
  };
  const skipSpace = (): void => {
    for (;;) {
      while (i < text.length && /[ \t\r\n]/.test(text[i]!)) i++;
      if (text[i] !== '#') return;
      while (i < text.length && text[i] !== '\n') i++;
    }
  };
  if (text[i] !== '[') fail('expected an array of strings');
  i++;
  const items: string[] = [];
  for (;;) {
    skipSpace();
    if (text[i] === ']') return items;
    if (items.length >= MAX_DEPENDENCIES) fail(`more than ${MAX_DEPENDENCIES} entries`);
    items.push(readString());
    skipSpace();
    if (text[i] === ',') i++;
    else if (text[i] !== ']') fail(i >= text.length ? 'the array is not closed' : 'expected "," or "]"');
  }

  function readString(): string {
    const quote = text[i];
    if (quote !== '"' && quote !== "'") return fail('expected a string');
    if (text.startsWith(quote.repeat(3), i)) return fail('multi-line strings are not read here');
    i++;
    let out = '';
    while (i < text.length && text[i] !== quote && text[i] !== '\n') {
      if (quote === '"' && text[i] === '\\') {
        const next = text[i + 1];
        const simple: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          n: '\n',
          t: '\t',
          r: '\r',
          b: '\b',
          f: '\f',
        };
        if (next !== undefined && next in simple) {
          out += simple[next];
          i += 2;
          continue;
        }
        if (next === 'u' || next === 'U') {
          const len = next === 'u' ? 4 : 8;
          const hex = text.slice(i + 2, i + 2 + len);
          if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== len) return fail('bad \\u escape');
          out += String.fromCodePoint(Math.min(parseInt(hex, 16), 0x10ffff));
          i += 2 + len;
          continue;
        }
        return fail('bad escape in a string');
      }
      out += text[i];
      i++;
    }
    if (text[i] !== quote) return fail('a string is not closed');
    i++;
    return out;
  }
}
