// Every command of `cairn`, declared on `program` (cli-program.ts).
//
// Every `cairn` call loads every command file (commander needs all of them to parse and to print
// the help), and the tests spawn `cairn` hundreds of times. So a command file imports at its top
// only what declaring its commands needs (commander, @cairn/protocol, @cairn/client, small
// helpers), and its action imports the rest with `await import()` when it runs: the server config
// (`loadServerConfigLazily`: its schemas load the engine), the engine, evidence checks, auth,
// openid-client, the AWS SDKs. A client command that only speaks HTTP never loads the server;
// cli-startup.test.ts holds this, bench/cli-startup.ts measures it.
import { addAuditCommands } from './audit-commands.ts';
import { addBackupCommands } from './backup-commands.ts';
import { addCompletionCommands } from './completion-commands.ts';
import { addContextCommands } from './context-commands.ts';
import { addDashboardCommands } from './dashboard-commands.ts';
import { addDemoCommands } from './demo-commands.ts';
import { addExportCommands } from './export-commands.ts';
import { addKeyCommands } from './key-commands.ts';
import { addLoginCommands } from './login-commands.ts';
import { addLogsCommands } from './logs-commands.ts';
import { addMcpCommands } from './mcp-commands.ts';
import { addProvenanceCommands } from './provenance-commands.ts';
import { addReportCommands } from './report-commands.ts';
import { addRunCommands } from './run-commands.ts';
import { addRunnerCommand } from './runner-command.ts';
import { addRunnersCommands } from './runners-commands.ts';
import { addRunListCommands } from './run-list-commands.ts';
import { addScheduleCommands } from './schedule-commands.ts';
import { addSecretCommands } from './secret-commands.ts';
import { addServerCommands } from './server-commands.ts';
import { addTemplateCommands } from './template-commands.ts';
import { addTokenCommands } from './token-commands.ts';
import { addVerifyCommands } from './verify-commands.ts';
import { addWebhookCommands } from './webhook-commands.ts';

/**
 * The commands in the order `cairn --help` lists them: a server's own, a run's life, evidence,
 * AI clients, a server's settings, then history, the demo, backups and webhooks, and last the
 * client's own settings (contexts, shell completion).
 */
export function addAllCommands(): void {
  addServerCommands();
  addRunnerCommand();
  addRunnersCommands();
  addRunCommands();
  addTemplateCommands();
  addLogsCommands();
  addVerifyCommands();
  addProvenanceCommands();
  addKeyCommands();
  addMcpCommands();
  addScheduleCommands();
  addSecretCommands();
  addTokenCommands();
  addDashboardCommands();
  addRunListCommands();
  addAuditCommands();
  addExportCommands();
  addReportCommands();
  addDemoCommands();
  addBackupCommands();
  addWebhookCommands();
  addContextCommands();
  addLoginCommands();
  addCompletionCommands();
}
