// What a finished build leaves for the reconciler: the model's language, entry file and
// prepared environment. Written atomically next to the deployment's app directory.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { ModelLanguage } from '../config/model-entry.ts';

export interface BuildRecord {
  language: ModelLanguage;
  modelFile: string;
  envDir: string | null;
  /** The app directory this build is for (a development deployment moves to a new one per patch). */
  appDir?: string;
  builtAt: string;
}

export function writeBuildRecord(file: string, record: BuildRecord): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(record, null, 2));
  renameSync(tmp, file);
}

export function readBuildRecord(file: string): BuildRecord | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as BuildRecord;
}
