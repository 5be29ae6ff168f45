import { type UserWorkspaceConfig } from 'vitest/config';
/** The vitest project every package uses; `overrides` for the rare package that needs more. */
export declare function definePackageTests(overrides?: UserWorkspaceConfig['test']): UserWorkspaceConfig;
//# sourceMappingURL=vitest.shared.d.ts.map