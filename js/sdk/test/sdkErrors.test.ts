import { describe, expect, it } from "vitest";

import { KeystoreError as IdentityKeystoreError } from "../src/identity.js";
import { InviteError as LinkInviteError, parseInvite } from "../src/inviteLinks.js";
import { InviteError, KeystoreError, StoreError } from "../src/sdkErrors.js";
import { StoreError as BackendStoreError } from "../src/storage/backend.js";
import { StoreError as StoreModuleError } from "../src/store.js";

describe("one class per SDK error", () => {
  it("re-exports the sdkErrors classes from the modules that raise them", () => {
    expect(BackendStoreError).toBe(StoreError);
    expect(StoreModuleError).toBe(StoreError);
    expect(IdentityKeystoreError).toBe(KeystoreError);
    expect(LinkInviteError).toBe(InviteError);
  });

  it("lets an app catch a parse failure with the class it imports from the SDK's errors", () => {
    let caught: unknown = null;
    try {
      parseInvite("https://relay.example/not-a-link");
    } catch (exc) {
      caught = exc;
    }
    expect(caught).toBeInstanceOf(InviteError);
    expect((caught as InviteError).code).toBe("invite.malformed");
  });
});
