/**
 * Node flags a process running the engine should start with. A semi-space of 16 MB bounds V8's
 * young generation (it otherwise grows to 128 MB on a machine with much memory): the engine makes
 * short-lived garbage fast (rows, audit entries, a 100,000-item spec's validation), keeps little
 * (a live heap of 25–75 MB), and the young generation's growth was most of its peak RSS. Measured
 * on 100,000-item runs (ADR 0011): 584 MB peak with the defaults, 306–316 MB at 32 MB, 276–289 MB
 * at 16 MB, the same time.
 */
export const engineNodeFlags: readonly string[] = ['--max-semi-space-size=16'];
