// The types of the preact that the build vendors as ./preact.js (scripts/console-assets.mjs).
export * from "preact";
