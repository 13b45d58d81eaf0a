// .plinthignore / .truss_ignore matching: the gitignore subset people use (globs, `**`, a
// trailing `/` for directories, a leading `/` to anchor, `!` to re-include). Pure.

export interface IgnoreRule {
  regex: RegExp;
  negate: boolean;
  dirOnly: boolean;
}

/** Paths never packed, whatever the ignore files say. */
export const DEFAULT_IGNORES = ['.git/', 'node_modules/', '__pycache__/', '.venv/', '*.pyc', '.DS_Store'];

function globToRegex(glob: string, anchored: boolean): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if ('.+^${}()|[]\\'.includes(c)) re += `\\${c}`;
    else re += c;
  }
  return new RegExp(`^${anchored ? '' : '(?:.*/)?'}${re}(?:/.*)?$`);
}

export function parseIgnore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    let line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1);
    const dirOnly = line.endsWith('/');
    if (dirOnly) line = line.slice(0, -1);
    const anchored = line.startsWith('/') || line.slice(0, -1).includes('/');
    if (line.startsWith('/')) line = line.slice(1);
    if (line === '') continue;
    rules.push({ regex: globToRegex(line, anchored), negate, dirOnly });
  }
  return rules;
}

/** Whether `path` (relative, forward slashes) is ignored; the last matching rule wins. */
export function isIgnored(rules: readonly IgnoreRule[], path: string, isDirectory: boolean): boolean {
  let ignored = false;
  for (const rule of rules) {
    if (rule.dirOnly && !isDirectory && !rule.regex.test(parentDirs(path))) continue;
    if (rule.regex.test(path)) ignored = !rule.negate;
  }
  return ignored;
}

function parentDirs(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? '\0' : path.slice(0, i);
}
