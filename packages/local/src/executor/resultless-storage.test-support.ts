import { CairnError } from '@cairn/protocol';
import { createLocalStorageProvider, type LocalStorageProvider } from '../storage/local-storage-provider.ts';

/**
 * A local storage that takes everything but result records (it answers 503 for `results/`): a
 * worker runs, then cannot report. A module factory with plain settings, as `taskStorage` names
 * one, so a supervisor process opens it too.
 */
export function createResultlessStorage(settings: { readonly root: string }): LocalStorageProvider {
  const target = createLocalStorageProvider(settings);
  return new Proxy(target, {
    get(target, property, receiver) {
      if (property !== 'put') {
        const value = Reflect.get(target, property, receiver) as unknown;
        // Its methods run on the provider itself (they read its private fields).
        return typeof value === 'function' ? (value as (...values: unknown[]) => unknown).bind(target) : value;
      }
      return (key: string, ...rest: Parameters<typeof target.put> extends [string, ...infer Rest] ? Rest : never) =>
        key.startsWith('results/')
          ? Promise.reject(new CairnError('CAIRN_STORAGE_UNAVAILABLE', 'the storage answered 503 for results/'))
          : target.put(key, ...rest);
    },
  });
}
