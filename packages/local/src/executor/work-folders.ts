import type { ProcessIdentity } from './process-identity.ts';

const ownerFolder = /^cairn-owner-(\d+)-(\d+)-([0-9a-f-]{36})$/;

/** The name of the folder a process's attempts get their working folders in. */
export function ownerFolderName(owner: ProcessIdentity): string {
  return `cairn-owner-${owner.pid}-${owner.startTicks}-${owner.bootId}`;
}

/** The process whose folder `name` is; undefined for any other name. */
export function ownerOfFolder(name: string): ProcessIdentity | undefined {
  const match = ownerFolder.exec(name);
  return match ? { pid: Number(match[1]), startTicks: Number(match[2]), bootId: match[3]! } : undefined;
}

/**
 * A file in an owner's folder saying its attempts were kept on purpose (`keepWorkDirectory`): the
 * sweep of dead owners' folders leaves it.
 */
export const keptMarker = '.cairn-kept';

/**
 * The folder in the work root where attempts' workspace file systems are kept as templates
 * (VolumeTemplates): shared by the executor's supervisors, which each live for one attempt.
 */
export const volumeTemplatesFolderName = 'cairn-volume-templates';
