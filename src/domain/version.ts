// The Plinth version, shown by the CLI and the OpenAPI document.
export const PLINTH_VERSION = '0.1.0';
