// ESLint 9 flat config. `npm run lint` checks everything, formatting included; `npm run format`
// rewrites the formatting in place. Formatting is dprint's TypeScript formatter run as the
// `@effect/dprint` rule, with Effect's own options (the style this code was written in) and
// "maintain" wherever the code already varies, so the formatter keeps what it can.
import effect from "@effect/eslint-plugin"
import js from "@eslint/js"
import globals from "globals"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import tseslint from "typescript-eslint"

/** The files `tsconfig.json` includes: only those get the rules that need type information. */
const typedFiles = ["src/**/*.ts", "test/**/*.ts", "soak/**/*.ts", "vitest.config.ts"]

export default tseslint.config(
  {
    ignores: ["node_modules/", "dist/", "coverage/", "bench/results/"]
  },
  {
    files: ["**/*.{ts,mjs}"],
    extends: [js.configs.recommended, ...tseslint.configs.recommended, ...effect.configs.dprint],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: globals.node
    },
    linterOptions: {
      reportUnusedDisableDirectives: "error"
    },
    rules: {
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force",
          // Keep the import order and the brace-less one-statement bodies as written.
          "module.sortImportDeclarations": "maintain",
          "ifStatement.useBraces": "maintain",
          "forStatement.useBraces": "maintain",
          "forInStatement.useBraces": "maintain",
          "forOfStatement.useBraces": "maintain",
          "whileStatement.useBraces": "maintain"
        }
      }],
      // The project forbids `any`.
      "@typescript-eslint/no-explicit-any": "error",
      // A leading underscore marks a binding as unused on purpose (as tsc's noUnused* checks allow).
      "@typescript-eslint/no-unused-vars": ["error", {
        argsIgnorePattern: "^_",
        varsIgnorePattern: "^_",
        caughtErrorsIgnorePattern: "^_",
        destructuredArrayIgnorePattern: "^_"
      }],
      // A `let` that a closure reads before its one assignment cannot be a `const`.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }]
    }
  },
  {
    files: typedFiles,
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: path.dirname(fileURLToPath(import.meta.url))
      }
    },
    rules: {
      // A promise nobody awaits loses its failure; Effects are values and are not concerned.
      "@typescript-eslint/no-floating-promises": "error"
    }
  }
)
