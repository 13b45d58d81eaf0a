// How a local replica process is launched for each model language.
import { fileURLToPath } from 'node:url';
import type { ReplicaSpec } from '../backend.ts';

export interface LaunchCommand {
  command: string;
  args: string[];
}

const NODE_REPLICA_MAIN = fileURLToPath(new URL('../../replica/node/main.ts', import.meta.url));
const TSX_LOADER = import.meta.resolve('tsx');

export function launchCommand(spec: ReplicaSpec): LaunchCommand {
  if (spec.language === 'typescript') {
    return { command: process.execPath, args: ['--import', TSX_LOADER, NODE_REPLICA_MAIN] };
  }
  throw new Error(`the local runtime cannot run ${spec.language} models yet`);
}
