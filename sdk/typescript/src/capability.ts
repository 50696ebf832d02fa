import { InvalidCapabilityError } from "./errors.js";

/** What a capability name must match, as the node checks it. */
export const CAPABILITY_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Throws {@link InvalidCapabilityError} unless every name matches
 * `[a-z0-9][a-z0-9._-]{0,63}` (the node's rule).
 */
export function checkCapabilities(names: readonly string[]): void {
  for (const name of names) {
    if (typeof name !== "string" || !CAPABILITY_PATTERN.test(name)) {
      throw new InvalidCapabilityError(
        `invalid capability name ${JSON.stringify(name)}: it must match [a-z0-9][a-z0-9._-]{0,63} ` +
          `(lowercase letters, digits, '.', '_' or '-', starting with a letter or digit), e.g. "text-generation"`,
      );
    }
  }
}
