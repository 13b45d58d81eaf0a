export function newestSourceMtimeMs(dir: string): number;
export function isFresh(bundle: string, sourceDir: string): boolean;
