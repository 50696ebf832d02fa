#!/usr/bin/env node
// Generates src/generated/api.ts from the OpenAPI document that `mesh openapi` prints.
//
//   npm run generate             write src/generated/api.ts
//   node scripts/generate.mjs --stdout   print it instead (the freshness test compares the two)
//
// The mesh binary is $MESH_BIN, else ../../target/debug/mesh (build it with
// `cargo build -p mesh-cli` at the repository root).

import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const output = resolve(root, "src/generated/api.ts");
const mesh = process.env.MESH_BIN || resolve(root, "../../target/debug/mesh");

const HEADER = `// Types of the MESH node's local HTTP API, generated from \`mesh openapi\`.
// Do not edit: run \`npm run generate\` after the API changes.

`;

if (!existsSync(mesh)) {
  console.error(
    `mesh binary not found at ${mesh}: build it with \`cargo build -p mesh-cli\` at the repository root, or set MESH_BIN`,
  );
  process.exit(2);
}

const document = JSON.parse(execFileSync(mesh, ["openapi"], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }));
const ast = await openapiTS(document, { alphabetize: true, defaultNonNullable: false });
const text = HEADER + astToString(ast);

if (process.argv.includes("--stdout")) {
  process.stdout.write(text);
} else {
  writeFileSync(output, text);
  console.log(`wrote ${output}`);
}
