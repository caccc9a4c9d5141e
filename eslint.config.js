// ESLint for the browser's plain ES modules (static/js) and the benchmark pages.
// Run: npx eslint (scripts/test.sh installs it from package.json and runs it).
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/", ".venv/", "var/", "staticfiles/"] },
  js.configs.recommended,
  {
    files: ["static/js/**/*.js", "benchmarks/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: { ...globals.browser, gettext: "readonly", ngettext: "readonly", interpolate: "readonly", pgettext: "readonly" },
    },
    rules: {
      "no-unused-vars": ["error", { args: "none", caughtErrors: "none", ignoreRestSiblings: true }],
      // Text from people is checked for control characters on purpose.
      "no-control-regex": "off",
    },
  },
];
