// Lint for the TypeScript sources and tests: ESLint's and typescript-eslint's recommended rules.
// Layout is Prettier's (npm run format); import cycles and lib/'s independence are test/architecture.test.ts's.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "bench/", "chaos/", "scripts/", "schema/", "**/*.mjs", "**/*.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // Stripping control characters from outside text (bodies, labels, program output) is part of medic's job.
      "no-control-regex": "off",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", caughtErrors: "none" },
      ],
    },
  },
  // The web console's JSX compiles to preact's h() and Fragment (src/console/tsconfig.json): those imports are used.
  { files: ["src/console/**/*.tsx"], languageOptions: { parserOptions: { jsxPragma: "h", jsxFragmentName: "Fragment" } } },
  // Test receivers read whatever JSON arrives, as the real receiver would.
  { files: ["test/**/*.ts", "**/*.test.ts"], rules: { "@typescript-eslint/no-explicit-any": "off" } },
);
