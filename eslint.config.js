// Lint rules for the whole repository: the recommended sets, and the house rules of
// docs/architecture.md — shipped code never imports test support, and each room of src/ imports
// only the rooms its row of scripts/rooms.mjs allows.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { ROOMS } from './scripts/rooms.mjs';

const TEST_SUPPORT = {
  group: ['**/test/**'],
  message: 'test support is not shipped: only tests may import it',
};
/** The composition roots directly in src/: only the CLI starts them. */
const COMPOSITION = {
  group: [
    '../server.ts',
    '../../server.ts',
    '../gateway-server.ts',
    '../../gateway-server.ts',
    '../leadership.ts',
  ],
  message: 'only the CLI and the composition roots in src/ wire the rooms together (docs/architecture.md)',
};
const TESTS = ['src/**/*.test.ts', 'src/**/*-suite.ts'];

/** One block per room: the rooms it may not import, and test support. */
const roomRules = ROOMS.map(({ room, mayImport }) => ({
  files: [`src/${room}/**/*.ts`, `src/${room}/**/*.tsx`],
  ignores: TESTS,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          TEST_SUPPORT,
          ...(mayImport.includes('(root)') ? [] : [COMPOSITION]),
          ...ROOMS.filter((other) => other.room !== room && !mayImport.includes(other.room)).map((other) => ({
            group: [`**/${other.room}/**`],
            message: `${room} may not import ${other.room}: see the rooms table in docs/architecture.md`,
          })),
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['node_modules/', 'schema/', 'dist/', '**/.plinth/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Shipped code never imports test support (fakes, fuzzers, helpers): test/ is not in the package.
    files: ['src/**/*.ts'],
    ignores: TESTS,
    rules: { 'no-restricted-imports': ['error', { patterns: [TEST_SUPPORT] }] },
  },
  ...roomRules,
);
