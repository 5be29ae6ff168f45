export { createOidcAuthorizer, OidcAuthorizer } from './authorizer/oidc-authorizer.ts';
export type { OidcAuthorizerOptions, OidcPrincipal } from './authorizer/oidc-authorizer.ts';
export { oidcAuthorizerSettingsSchema } from './authorizer/oidc-authorizer-settings.ts';
export type { OidcAuthorizerSettings, OidcGrant } from './authorizer/oidc-authorizer-settings.ts';
export type { OidcRefusal } from './authorizer/oidc-refusal.ts';
export { identityProviderUnavailable } from './authorizer/identity-provider-unavailable.ts';
export type { IdentityProviderDocument } from './authorizer/identity-provider-unavailable.ts';
export { looksLikeJwt } from './claims/looks-like-jwt.ts';
export const VERSION = '0.1.0';
