/** A file or symlink of a workspace snapshot; directories are implied by the paths beneath them. */
export type TarEntry =
  | { readonly kind: 'file'; readonly path: string; readonly executable: boolean; readonly content: Uint8Array }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string };

/** What a tar may hold besides files and symlinks: a directory, which extraction creates. */
export type TarMember = TarEntry | { readonly kind: 'directory'; readonly path: string };

export const tarBlockSize = 512;
