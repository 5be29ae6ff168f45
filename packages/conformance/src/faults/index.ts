export { useSmallFileSystem, type SmallFileSystem } from './small-file-system.ts';
