export const SERVING_COMMANDS: ReadonlySet<string>;
export function tuneHeapForServing(command: string | undefined): boolean;
