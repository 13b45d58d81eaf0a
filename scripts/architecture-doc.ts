// The generated parts of docs/architecture.md: the rooms table (scripts/rooms.mjs, which the lint
// rule enforces) and the deployment state machine (src/domain/deployment-status.ts). Run
// `npm run docs` after changing either; test/docs/architecture.test.ts checks they agree.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEPLOYMENT_STATUSES, STATUS_MOVES } from '../src/domain/deployment-status.ts';
import { ROOMS } from './rooms.mjs';

export const ARCHITECTURE_DOC = join(
  fileURLToPath(new URL('..', import.meta.url)),
  'docs',
  'architecture.md',
);

export function roomsTable(): string {
  const rows = ROOMS.map(
    ({ room, job, mayImport }) =>
      `| \`${room}/\` | ${job} | ${mayImport.length ? mayImport.map((r) => (r === '(root)' ? 'the composition roots' : `\`${r}\``)).join(', ') : 'nothing of ours'} |`,
  );
  return ['| room | what it does | may import |', '| --- | --- | --- |', ...rows].join('\n');
}

export function statusTable(): string {
  const rows = DEPLOYMENT_STATUSES.flatMap((from) =>
    Object.entries(STATUS_MOVES[from]).map(([to, why]) => `| \`${from}\` | \`${to}\` | ${why} |`),
  );
  return ['| from | to | why |', '| --- | --- | --- |', ...rows].join('\n');
}

export const GENERATED: Record<string, () => string> = { rooms: roomsTable, 'status-moves': statusTable };

/** The document with each generated block replaced by what the code says now. */
export function regenerate(doc: string): string {
  let out = doc;
  for (const [name, make] of Object.entries(GENERATED)) {
    const start = `<!-- generated:${name} -->`;
    const end = `<!-- /generated:${name} -->`;
    const i = out.indexOf(start);
    const j = out.indexOf(end);
    if (i === -1 || j === -1) throw new Error(`docs/architecture.md has no ${start} … ${end} block`);
    out = `${out.slice(0, i + start.length)}\n${make()}\n${out.slice(j)}`;
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(ARCHITECTURE_DOC, regenerate(readFileSync(ARCHITECTURE_DOC, 'utf8')));
  console.log(`regenerated the tables of ${ARCHITECTURE_DOC}`);
}
