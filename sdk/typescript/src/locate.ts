/**
 * Finding a running node to attach to: the `api` option, then `MESH_API`, then the `api` file
 * of the home (the `home` option, else `MESH_HOME`) when the node there answers.
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";

import { NodeNotFoundError, TokenMissingError } from "./errors.js";
import { isHealthy, normaliseBaseUrl } from "./http.js";

/** File in a node's home holding the API token. */
export const TOKEN_FILE = "api-token";
/** File in a node's home holding the API URL while the node runs. */
export const API_FILE = "api";

/** A running node and how to authenticate to it. */
export interface Attachment {
  /** API base URL. */
  url: string;
  /** Bearer token. */
  token: string;
  /** Where the token came from, for error messages. */
  tokenSource: string;
}

/** What the search looks at. */
export interface LocateOptions {
  api?: string | undefined;
  token?: string | undefined;
  home?: string | undefined;
  env: Record<string, string | undefined>;
}

/** The trimmed content of a file, or `undefined` if it is missing or empty. */
export async function readTrimmed(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, "utf8")).trim();
    return text === "" ? undefined : text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

async function token(
  candidates: Array<[string | undefined, string]>,
  homes: Array<string | undefined>,
  url: string,
): Promise<{ token: string; tokenSource: string }> {
  for (const [value, source] of candidates) {
    if (value !== undefined && value !== "") return { token: value, tokenSource: source };
  }
  const tried: string[] = [];
  for (const home of homes) {
    if (home === undefined) continue;
    const path = join(home, TOKEN_FILE);
    tried.push(path);
    const value = await readTrimmed(path);
    if (value !== undefined) return { token: value, tokenSource: path };
  }
  throw new TokenMissingError(
    `found the MESH node at ${url} but no API token for it` +
      (tried.length > 0 ? ` (no ${tried.join(" or ")})` : "") +
      ": pass `token`, set MESH_TOKEN, or pass the node's `home` (or set MESH_HOME) so its api-token is read",
  );
}

async function mustAnswer(url: string, foundBy: string): Promise<void> {
  if (!(await isHealthy(url))) {
    throw new NodeNotFoundError(
      `no MESH node answers at ${url} (${foundBy}): start it with \`mesh node\`, fix the URL, ` +
        "or leave the API unset so connect() starts a node itself",
    );
  }
}

/**
 * The node to attach to, or `undefined` when there is none and the caller should start one.
 * Throws {@link NodeNotFoundError} when an API was named explicitly but does not answer.
 */
export async function locateNode(options: LocateOptions): Promise<Attachment | undefined> {
  const { env } = options;
  const envHome = env.MESH_HOME || undefined;
  if (options.api) {
    const url = normaliseBaseUrl(options.api);
    await mustAnswer(url, "the `api` option");
    const found = await token([[options.token, "the `token` option"]], [options.home ?? envHome], url);
    return { url, ...found };
  }
  if (env.MESH_API) {
    const url = normaliseBaseUrl(env.MESH_API);
    await mustAnswer(url, "MESH_API");
    const found = await token(
      [
        [options.token, "the `token` option"],
        [env.MESH_TOKEN, "MESH_TOKEN"],
      ],
      [options.home ?? envHome],
      url,
    );
    return { url, ...found };
  }
  const home = options.home ?? envHome;
  if (home === undefined) return undefined;
  const apiFile = join(home, API_FILE);
  const recorded = await readTrimmed(apiFile);
  if (recorded === undefined) return undefined;
  const url = normaliseBaseUrl(recorded);
  if (!(await isHealthy(url))) return undefined;
  const found = await token([[options.token, "the `token` option"]], [home], url);
  return { url, ...found };
}
