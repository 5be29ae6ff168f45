/**
 * Saves `blob` as a file named `name`: through an object URL, so the credential that fetched it
 * never appears in a link. The URL is released once the browser has taken the download.
 */
export function downloadBytes(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.rel = 'noopener';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
