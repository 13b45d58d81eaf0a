// Types of scripts/rooms.mjs (plain JavaScript, so that eslint.config.js can read it).
export interface Room {
  room: string;
  job: string;
  /** Rooms it may import; '(root)' for the composition roots directly in src/. */
  mayImport: string[];
}
export declare const ROOMS: Room[];
