// The types of the preact hooks that the build vendors as ./preact-hooks.js (scripts/console-assets.mjs).
export * from "preact/hooks";
