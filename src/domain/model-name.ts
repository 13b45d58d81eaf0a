// Model names as Truss takes them: any printable text (spaces, capitals, punctuation) up to
// MAX_MODEL_NAME_LENGTH characters, unique regardless of case. Pure: no I/O.

export const MAX_MODEL_NAME_LENGTH = 128;

// Control characters (C0, DEL, C1), the line/paragraph separators (a name is one line), and the
// invisible format characters — zero-width spaces and joiners, bidi overrides — that would let two
// names look the same or a name rewrite the line it is printed on.
const CONTROL = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

/** Why `name` cannot name a model, or undefined when it can. */
export function modelNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if ([...name].length > MAX_MODEL_NAME_LENGTH)
    return `it is longer than ${MAX_MODEL_NAME_LENGTH} characters`;
  if (CONTROL.test(name)) return 'it contains a control character or an invisible formatting character';
  // URLs collapse "." and ".." path segments, even percent-encoded: such a name has no URL.
  if (/^\.+$/.test(name)) return 'it is only dots';
  if (name.trim() !== name) return 'it starts or ends with whitespace';
  // A model's URLs carry its name as one path segment; "/" would split it.
  if (name.includes('/')) return 'it contains "/"';
  return undefined;
}

/** The key under which names are unique: case and Unicode composition do not count. */
export function modelNameKey(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

/** How a model name is shown inside a message: quoted, escaped like a JSON string. */
export function quoteModelName(name: string): string {
  return JSON.stringify(name);
}
