// ESLint with typescript-eslint, run on the files a change touches (scripts/lint-changed.js).
// The tools live in tools/lint/ (a package of their own: typescript-eslint parses with the classic TypeScript API,
// which TypeScript 7, the project's compiler, no longer has); this file loads them from there.
import { createRequire } from 'node:module';

const require = createRequire(new URL('./tools/lint/package.json', import.meta.url));
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', '.cache/**', 'node_modules/**', 'tools/lint/node_modules/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Set to the code base as it is (the checks are style, not a rewrite):
    rules: {
      // `_x` names a value left out on purpose; `using lock = ...` holds a lock for its scope; unused parameters keep signatures whole
      '@typescript-eslint/no-unused-vars': [
        'error',
        { args: 'none', varsIgnorePattern: '^_|^lock$', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // pairs of statements as one comma expression (`if (x) (a = 1), (b += 8);`) are the house style for field decoders
      '@typescript-eslint/no-unused-expressions': 'off',
      // parsers and error messages match control characters on purpose (names, terminal escapes)
      'no-control-regex': 'off',
      // errors are rewrapped into one-line UserErrors that name the file; the cause is in the message
      'preserve-caught-error': 'off',
      // shown, not failing: the few places where a declaration's first value is overwritten before use
      'no-useless-assignment': 'warn',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // tests poke at untyped JSON, load CommonJS scripts, and may throw from a finally to fail a slow case
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      'no-unsafe-finally': 'off',
      'no-regex-spaces': 'off',
    },
  },
);
