import { html as diffHtml } from 'diff2html';
import { ColorSchemeType } from 'diff2html/lib-esm/types.js';
import 'diff2html/bundles/css/diff2html.min.css';
import { useMemo, useState } from 'preact/hooks';
import { downloadBytes } from '../api/download-bytes.ts';

/**
 * A patch (git diff --binary) as a diff: unified or side by side, with the list of files and
 * their added and removed lines (diff2html), and a download of the patch as it is stored.
 * diff2html escapes the patch's text: its HTML is safe to insert. Its colours follow the system's
 * light or dark scheme, as the page's do.
 */
export function PatchDiff({ patch, fileName }: { readonly patch: string; readonly fileName: string }) {
  const [format, setFormat] = useState<'line-by-line' | 'side-by-side'>('line-by-line');
  const rendered = useMemo(
    () => diffHtml(patch, { outputFormat: format, drawFileList: true, matching: 'lines', colorScheme: ColorSchemeType.AUTO }),
    [patch, format],
  );
  return (
    <div class="patch">
      <div class="actions">
        <button type="button" aria-pressed={format === 'line-by-line'} onClick={() => setFormat('line-by-line')}>
          Unified
        </button>
        <button type="button" aria-pressed={format === 'side-by-side'} onClick={() => setFormat('side-by-side')}>
          Side by side
        </button>
        <button type="button" onClick={() => downloadBytes(new Blob([patch], { type: 'text/x-diff' }), fileName)}>
          Download the patch
        </button>
      </div>
      <div class="diff" dangerouslySetInnerHTML={{ __html: rendered }} />
    </div>
  );
}
