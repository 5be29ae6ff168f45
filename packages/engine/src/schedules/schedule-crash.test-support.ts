/**
 * A child process for the crash test: opens the database given as argv[2] at the clock argv[3],
 * fires the due slots, and is killed (SIGKILL: no exit handlers, no cleanup) the moment the first
 * slot's submit returns — after the run is written, before the transaction commits the schedule's
 * advance. What the parent then finds is what a power cut at that instant would leave.
 */
import { assertRunSpec } from '@cairn/protocol';
import { AuditLog } from '../audit/audit-log.ts';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { RunStateMachine } from '../state/run-state-machine.ts';
import { ScheduleBook } from './schedule-book.ts';
import { WorkingCopy } from '../store/sqlite/working-copy.ts';

const [path, at] = process.argv.slice(2);
const now = () => Number(at);
const database = openEngineDatabase(path!);
const audit = new AuditLog(new WorkingCopy(database), { now });
const machine = new RunStateMachine(new WorkingCopy(database), audit, { now });
const book = new ScheduleBook({
  workingCopy: new WorkingCopy(database),
  audit,
  now,
  validate: (spec) => assertRunSpec(spec).spec,
  submit: (spec, options) => {
    const result = machine.submit(spec, options);
    process.stdout.write(`submitted ${result.runId} ${String(result.created)}\n`);
    process.kill(process.pid, 'SIGKILL');
    return result;
  },
  runState: (runId) => machine.run(runId)?.state,
  cancelRun: (runId, actor) => machine.cancelRun(runId, actor),
});
book.fireDue();
process.stdout.write('not killed\n');
