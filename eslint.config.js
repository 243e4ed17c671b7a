// ESLint flat config for koppel. TypeScript files are linted with type information from
// tsconfig.check.json (the same file set `npm run typecheck` checks); plain .mjs/.js/.cjs files
// (bench/, scripts/) are linted without it. Prettier owns formatting: eslint-config-prettier,
// last, turns off every stylistic rule that would fight it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    name: 'koppel/ignores',
    ignores: ['dist/', 'coverage/', 'node_modules/', 'bench/peers/node_modules/', 'bench/results/', 'examples/*/out/', '.exp/'],
  },
  { name: 'koppel/report-unused-disable-directives', linterOptions: { reportUnusedDisableDirectives: 'error' } },
  { name: 'koppel/all', files: ['**/*.{ts,js,mjs,cjs}'], rules: { eqeqeq: ['error', 'always'] } },

  // Plain JavaScript: the bench drivers and the bundle script, run by Node.
  {
    name: 'koppel/javascript',
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      // The same convention tsc applies to the TypeScript files: `_` names and rest siblings are meant.
      'no-unused-vars': ['error', { varsIgnorePattern: '^_', argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  { name: 'koppel/commonjs', files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs' } },

  // TypeScript, with type information.
  {
    name: 'koppel/typescript',
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        // tsconfig.check.json includes src, test, bench, examples and vitest.config.ts; a .ts
        // file outside it is reported as an error, so a new folder must be added there first.
        project: './tsconfig.check.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Protocol code is promise-heavy: a dropped or mis-passed promise loses an error or a deadline.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // A new message type, phase or suite must be handled by every switch over its union.
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      // verbatimModuleSyntax emits every import and export not marked `type` (tsc refuses a missing
      // marker; these rules add it by --fix), and `import { type A }` still emits `import {} from`:
      // no-import-type-side-effects makes that `import type { A }`.
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/consistent-type-exports': ['error', { fixMixedExportsWithInlineTypeSpecifier: true }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      // A promise returned unawaited from inside try skips that try's catch and finally (abort,
      // wipe, close); this flags exactly those returns and nothing stylistic.
      '@typescript-eslint/return-await': ['error', 'error-handling-correctness-only'],
      // `return Promise.reject(e)` re-raises a caught `unknown` as it came; only new reasons must be Errors.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],

      // Off, each for a reason:
      // tsc's noUnusedLocals / noUnusedParameters already report unused names, with its own `_` rule.
      '@typescript-eslint/no-unused-vars': 'off',
      // `async` without `await` is deliberate: a throw becomes a rejection, and async generators feed stream APIs.
      '@typescript-eslint/require-await': 'off',
    },
  },

  // The library never writes to the console; only the CLI talks to the user.
  { name: 'koppel/library-no-console', files: ['src/**'], ignores: ['src/cli/**'], rules: { 'no-console': 'error' } },

  { name: 'koppel/prettier', ...prettier },
);
