// `@cairn/protocol/format`: how Cairn writes values for people, shared by the CLI, the server's
// messages and the dashboard. Nothing here builds a schema as it loads, so a browser page or a
// short-lived command can import it without the root entry's weight.
export { dollars } from './dollars.ts';
export { budgetText } from './budget-text.ts';
