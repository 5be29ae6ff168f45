const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** `64 MiB`, `1.5 GiB`, `512 bytes`: a size as a person reads it (binary units, one decimal at most). */
export function sizeText(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(1))} ${units[unit]}`;
}
