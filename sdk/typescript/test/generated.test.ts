// src/generated/api.ts must match what `npm run generate` writes from the current `mesh openapi`.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { MESH_BIN, NEEDS_MESH, PACKAGE_ROOT } from "./helpers/mesh.js";

test("the checked-in API types are generated from the current OpenAPI document", { skip: NEEDS_MESH }, () => {
  const fresh = execFileSync(process.execPath, [join(PACKAGE_ROOT, "scripts/generate.mjs"), "--stdout"], {
    cwd: PACKAGE_ROOT,
    encoding: "utf8",
    env: { ...process.env, MESH_BIN: MESH_BIN },
  });
  const checkedIn = readFileSync(join(PACKAGE_ROOT, "src/generated/api.ts"), "utf8");
  assert.ok(fresh === checkedIn, "src/generated/api.ts is stale: run `npm run generate` and commit the result");
});
