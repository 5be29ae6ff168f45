import { methodNameOf } from './commands/command-methods.ts';
import {
  serviceCommandKinds,
  type EngineCommandMethods,
  type EngineCommandResults,
  type ServiceCommandArguments,
  type ServiceCommandKind,
} from './engine-commands.ts';

/** How a service carries out any command: by its kind, with its method's arguments. */
export type CommandDispatch = <Kind extends ServiceCommandKind>(kind: Kind, args: ServiceCommandArguments[Kind]) => Promise<EngineCommandResults[Kind]>;

/**
 * `EngineService`'s command methods over one `dispatch`, made from the table's kinds: a service
 * writes no method per command, so a command added to the table is a method of every service.
 */
export function engineCommandMethods(dispatch: CommandDispatch): EngineCommandMethods {
  const methods = Object.fromEntries(
    serviceCommandKinds.map((kind): [string, (...args: never) => Promise<unknown>] => [methodNameOf(kind), methodOf(kind, dispatch)]),
  );
  // The object is built from the kinds at run time, which no type can follow: each method is typed
  // by `methodOf` at its kind, and engine-command-methods.test.ts checks that every kind has its
  // method under the name `EngineCommandMethods` gives it, dispatching that kind.
  return methods as EngineCommandMethods;
}

function methodOf<Kind extends ServiceCommandKind>(
  kind: Kind,
  dispatch: CommandDispatch,
): (...args: ServiceCommandArguments[Kind]) => Promise<EngineCommandResults[Kind]> {
  return (...args) => dispatch(kind, args);
}
