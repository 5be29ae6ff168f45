/**
 * What an AI client sees from `cairn mcp`, sorted: written out here, not read from `@cairn/mcp`,
 * so a tool added or removed there fails the tests that pin it until they are told.
 */
export const servedMcpTools = ['get_patch', 'get_run_status', 'list_templates', 'submit_run', 'submit_template_run', 'wait_for_run'];
