export { countFsyncs, parseSummary } from './fsync-counter.ts';
export { usePowerCutFileSystem, type PowerCutFileSystem, type PowerCutFileSystemBreakage } from './power-cut-file-system.ts';
export { useSmallFileSystem, type SmallFileSystem } from './small-file-system.ts';
