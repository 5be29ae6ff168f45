export { CairnError, isCairnError } from './cairn-error.ts';
export type { CairnErrorOptions, ValidationIssue } from './cairn-error.ts';
export { errorCatalogue, errorCodes } from './error-catalogue.ts';
export type { CairnErrorCode, ErrorDescription } from './error-catalogue.ts';
export { parseSettings } from './parse-settings.ts';
