/*
 * power-cut-file-system: a FUSE file system over a folder of durable state that keeps, in this
 * process's memory, everything not yet made durable. Killing this process is the power cut: what
 * was durable is in the folder, the rest is gone, and a fresh mount over the folder shows exactly
 * what survived (the LazyFS idea).
 *
 *   power-cut-file-system <durable folder> <unnamed folder> <mount point> [broken]
 *
 * It prints "mounted" on standard output once the mount is in place, serves requests one at a
 * time, and unmounts on SIGTERM or SIGINT. The unnamed folder holds the durable content of files
 * whose name is not durable yet; it is emptied at start (after a cut nothing reaches them).
 * `broken` is a deliberately wrong variant, to prove a test notices the loss: `keeps-unsynced`
 * makes every write and name change durable at once (a cut loses nothing), `ignores-fsync` makes
 * a file's fsync do nothing (a cut loses every write since the mount; folders still work).
 *
 * The model (what survives a cut):
 *   - Data. A file's content is what it was at its last fsync or fdatasync. Durability is per file
 *     (inode), not per descriptor: an fsync through any descriptor of the file makes all its
 *     writes so far durable, and a truncate (ftruncate, O_TRUNC, fallocate's growth) is data like
 *     a write. Shared writable mmap works (the kernel writes the pages back through here) and is
 *     no more durable than a write.
 *   - Names. Creating, linking, renaming and removing a file, a folder or a symbolic link, and a
 *     folder's mode or owner, change the namespace; a change becomes durable when a folder it
 *     touched is fsynced (for a rename, either folder). Changes become durable in the order they
 *     were made, as a journal commits them: an fsync of one folder makes durable every change made
 *     before its own last change too, wherever it was. An fsync of a file never makes a name
 *     durable, not even its own new name: write, fsync, rename, then fsync the folder.
 *   - A file whose name is not durable keeps its fsynced content here too: once its name becomes
 *     durable the name shows that content, not what was written since.
 * Nothing is written back on its own: a kernel writes dirty pages back within about 30 s, so after
 * a real power loss older writes usually survive; here every write not fsynced is lost however old
 * (the strict reading of POSIX, which is all a program may rely on).
 * Limits: a regular file's mode and owner are durable at once; times are not kept across a cut (a
 * file shows the time it was last made durable); only regular files, folders and symbolic links
 * (no fifos, sockets or devices); no extended attributes; RENAME_EXCHANGE is refused; POSIX and
 * flock locks are the kernel's own (they hold between processes of this machine, as on a local
 * disk). Everything touched is held in memory, which suits test data, not gigabytes.
 */
#define FUSE_USE_VERSION 34
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>

#define PAGE 4096
#define TIMEOUT 1.0

struct entry {
  char *name; /* NULL: removed, kept while the folder is being listed so offsets stay put */
  fuse_ino_t ino;
};

struct node {
  mode_t mode;
  uid_t uid;
  gid_t gid;
  nlink_t nlink;
  struct timespec atime, mtime, ctime;
  /* folders */
  fuse_ino_t parent;
  struct entry *entries;
  size_t entry_count, entry_capacity, live_entries;
  int readers;
  /* files: where the durable content is (the durable folder, or the unnamed folder) */
  int durable_fd;
  unsigned char *data; /* the current content, when loaded */
  size_t size, capacity;
  size_t durable_size; /* the size of the durable content */
  size_t lowest_size;  /* the smallest size since the last fsync: what is beyond it changed */
  uint64_t *dirty;     /* pages written since the last fsync */
  size_t dirty_words;
  int loaded, opens;
  /* symbolic links */
  char *target;
};

enum change_kind { CHANGE_CREATE, CHANGE_MKDIR, CHANGE_SYMLINK, CHANGE_LINK, CHANGE_UNLINK, CHANGE_RMDIR, CHANGE_RENAME, CHANGE_CHMOD, CHANGE_CHOWN };

/* A change of names not yet durable, replayed on the durable folder when it becomes durable. */
struct change {
  enum change_kind kind;
  char *path, *path2, *target;
  fuse_ino_t ino, folder1, folder2;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  unsigned flags;
};

static struct node **nodes;
static size_t node_count, node_capacity;
static struct change *changes;
static size_t change_count, change_capacity;
static int durable_dir = -1, unnamed_dir = -1;
static int keeps_unsynced, ignores_fsync;

static void *checked(void *pointer) {
  if (pointer == NULL) {
    fprintf(stderr, "power-cut-file-system: out of memory\n");
    abort();
  }
  return pointer;
}

static struct timespec now(void) {
  struct timespec time;
  clock_gettime(CLOCK_REALTIME, &time);
  return time;
}

static fuse_ino_t new_node(mode_t mode, uid_t uid, gid_t gid) {
  if (node_count == node_capacity) {
    node_capacity = node_capacity ? node_capacity * 2 : 1024;
    nodes = checked(realloc(nodes, node_capacity * sizeof *nodes));
  }
  struct node *node = checked(calloc(1, sizeof *node));
  node->mode = mode;
  node->uid = uid;
  node->gid = gid;
  node->durable_fd = -1;
  node->atime = node->mtime = node->ctime = now();
  nodes[node_count] = node;
  return node_count++;
}

static struct node *node_of(fuse_ino_t ino) { return ino > 0 && ino < node_count ? nodes[ino] : NULL; }

/* Folders */

static struct entry *find_entry(struct node *folder, const char *name) {
  for (size_t index = 0; index < folder->entry_count; index++)
    if (folder->entries[index].name && strcmp(folder->entries[index].name, name) == 0) return &folder->entries[index];
  return NULL;
}

static void add_entry(struct node *folder, const char *name, fuse_ino_t ino) {
  if (folder->entry_count == folder->entry_capacity) {
    folder->entry_capacity = folder->entry_capacity ? folder->entry_capacity * 2 : 8;
    folder->entries = checked(realloc(folder->entries, folder->entry_capacity * sizeof *folder->entries));
  }
  folder->entries[folder->entry_count++] = (struct entry){checked(strdup(name)), ino};
  folder->live_entries++;
  folder->mtime = folder->ctime = now();
}

static void compact(struct node *folder) {
  if (folder->readers > 0) return;
  size_t kept = 0;
  for (size_t index = 0; index < folder->entry_count; index++)
    if (folder->entries[index].name) folder->entries[kept++] = folder->entries[index];
  folder->entry_count = kept;
}

static void remove_entry(struct node *folder, struct entry *entry) {
  free(entry->name);
  entry->name = NULL;
  folder->live_entries--;
  folder->mtime = folder->ctime = now();
  compact(folder);
}

/* "a/b" for a folder (relative to the durable folder), "." for the root. */
static char *folder_path(fuse_ino_t ino) {
  if (ino == FUSE_ROOT_ID) return checked(strdup("."));
  struct node *node = nodes[ino];
  struct node *parent = nodes[node->parent];
  const char *name = NULL;
  for (size_t index = 0; index < parent->entry_count; index++)
    if (parent->entries[index].name && parent->entries[index].ino == ino) name = parent->entries[index].name;
  char *above = folder_path(node->parent);
  char *path;
  if (strcmp(above, ".") == 0) path = checked(strdup(name));
  else if (asprintf(&path, "%s/%s", above, name) < 0) abort();
  free(above);
  return path;
}

static char *entry_path(fuse_ino_t folder, const char *name) {
  if (folder == FUSE_ROOT_ID) return checked(strdup(name));
  char *above = folder_path(folder), *path;
  if (asprintf(&path, "%s/%s", above, name) < 0) abort();
  free(above);
  return path;
}

/* Some path of a node's names (a file may have several), or NULL when it has none. */
static char *any_path(fuse_ino_t ino) {
  for (size_t folder = 1; folder < node_count; folder++) {
    struct node *node = nodes[folder];
    if (!S_ISDIR(node->mode) || (folder != FUSE_ROOT_ID && node->parent == 0)) continue;
    for (size_t index = 0; index < node->entry_count; index++)
      if (node->entries[index].name && node->entries[index].ino == ino) return entry_path(folder, node->entries[index].name);
  }
  return NULL;
}

/* Changes of names */

static void record(struct change change) {
  if (change_count == change_capacity) {
    change_capacity = change_capacity ? change_capacity * 2 : 256;
    changes = checked(realloc(changes, change_capacity * sizeof *changes));
  }
  changes[change_count++] = change;
}

static void replay_failed(const char *what, const char *path) {
  fprintf(stderr, "power-cut-file-system: replaying %s %s on the durable folder failed: %s\n", what, path, strerror(errno));
}

static void replay(struct change *change) {
  char unnamed[32];
  switch (change->kind) {
    case CHANGE_CREATE:
      snprintf(unnamed, sizeof unnamed, "%lu", (unsigned long)change->ino);
      if (renameat(unnamed_dir, unnamed, durable_dir, change->path) != 0) replay_failed("create", change->path);
      break;
    case CHANGE_MKDIR:
      if (mkdirat(durable_dir, change->path, change->mode) != 0 || fchownat(durable_dir, change->path, change->uid, change->gid, AT_SYMLINK_NOFOLLOW) != 0 ||
          fchmodat(durable_dir, change->path, change->mode, 0) != 0)
        replay_failed("mkdir", change->path);
      break;
    case CHANGE_SYMLINK:
      if (symlinkat(change->target, durable_dir, change->path) != 0 || fchownat(durable_dir, change->path, change->uid, change->gid, AT_SYMLINK_NOFOLLOW) != 0)
        replay_failed("symlink", change->path);
      break;
    case CHANGE_LINK:
      if (linkat(durable_dir, change->path, durable_dir, change->path2, 0) != 0) replay_failed("link", change->path2);
      break;
    case CHANGE_UNLINK:
      if (unlinkat(durable_dir, change->path, 0) != 0) replay_failed("unlink", change->path);
      break;
    case CHANGE_RMDIR:
      if (unlinkat(durable_dir, change->path, AT_REMOVEDIR) != 0) replay_failed("rmdir", change->path);
      break;
    case CHANGE_RENAME:
      if (renameat2(durable_dir, change->path, durable_dir, change->path2, change->flags) != 0) replay_failed("rename", change->path);
      break;
    case CHANGE_CHMOD:
      if (fchmodat(durable_dir, change->path, change->mode, 0) != 0) replay_failed("chmod", change->path);
      break;
    case CHANGE_CHOWN:
      if (fchownat(durable_dir, change->path, change->uid, change->gid, AT_SYMLINK_NOFOLLOW) != 0) replay_failed("chown", change->path);
      break;
  }
  free(change->path);
  free(change->path2);
  free(change->target);
}

/* Makes durable every change up to the last one that touched `folder`. */
static void commit_folder(fuse_ino_t folder) {
  size_t last = 0;
  int found = 0;
  for (size_t index = 0; index < change_count; index++)
    if (changes[index].folder1 == folder || changes[index].folder2 == folder) last = index, found = 1;
  if (!found) return;
  for (size_t index = 0; index <= last; index++) replay(&changes[index]);
  memmove(changes, changes + last + 1, (change_count - last - 1) * sizeof *changes);
  change_count -= last + 1;
}

static void commit_all(void) {
  for (size_t index = 0; index < change_count; index++) replay(&changes[index]);
  change_count = 0;
}

/* File content */

static void mark_dirty(struct node *node, size_t from, size_t to) {
  if (to <= from) return;
  size_t last_page = (to - 1) / PAGE;
  size_t words = last_page / 64 + 1;
  if (words > node->dirty_words) {
    node->dirty = checked(realloc(node->dirty, words * sizeof *node->dirty));
    memset(node->dirty + node->dirty_words, 0, (words - node->dirty_words) * sizeof *node->dirty);
    node->dirty_words = words;
  }
  for (size_t page = from / PAGE; page <= last_page; page++) node->dirty[page / 64] |= (uint64_t)1 << (page % 64);
}

static int is_dirty(struct node *node) {
  if (node->size != node->durable_size || node->lowest_size < node->durable_size) return 1;
  for (size_t word = 0; word < node->dirty_words; word++)
    if (node->dirty[word]) return 1;
  return 0;
}

static void reserve(struct node *node, size_t size) {
  if (size <= node->capacity) return;
  size_t capacity = node->capacity ? node->capacity : PAGE;
  while (capacity < size) capacity *= 2;
  node->data = checked(realloc(node->data, capacity));
  memset(node->data + node->capacity, 0, capacity - node->capacity);
  node->capacity = capacity;
}

static int load(struct node *node) {
  if (node->loaded) return 0;
  reserve(node, node->size);
  for (size_t done = 0; done < node->size;) {
    ssize_t count = pread(node->durable_fd, node->data + done, node->size - done, done);
    if (count <= 0) return count == 0 ? EIO : errno;
    done += count;
  }
  node->loaded = 1;
  return 0;
}

/* Lets go of what a closed file holds in memory when it all is durable, or it is gone. */
static void settle(struct node *node) {
  if (!S_ISREG(node->mode) || node->opens > 0) return;
  if (node->nlink == 0) {
    if (node->durable_fd >= 0) close(node->durable_fd);
    node->durable_fd = -1;
  } else if (!node->loaded || is_dirty(node)) {
    return;
  }
  free(node->data);
  free(node->dirty);
  node->data = NULL;
  node->dirty = NULL;
  node->capacity = node->dirty_words = 0;
  node->loaded = 0;
}

static void resize(struct node *node, size_t size) {
  reserve(node, size);
  if (size < node->size && node->data) memset(node->data + size, 0, node->size - size);
  node->size = size;
  if (size < node->lowest_size) node->lowest_size = size;
  node->mtime = node->ctime = now();
}

static int flush_file(struct node *node) {
  if (!node->loaded || !is_dirty(node)) return 0;
  if ((node->lowest_size < node->durable_size && ftruncate(node->durable_fd, node->lowest_size) != 0) || ftruncate(node->durable_fd, node->size) != 0)
    return errno;
  for (size_t word = 0; word < node->dirty_words; word++) {
    for (uint64_t bits = node->dirty[word]; bits; bits &= bits - 1) {
      size_t start = (word * 64 + __builtin_ctzll(bits)) * PAGE;
      if (start >= node->size) continue;
      size_t length = node->size - start < PAGE ? node->size - start : PAGE;
      if (pwrite(node->durable_fd, node->data + start, length, start) != (ssize_t)length) return errno ? errno : EIO;
    }
    node->dirty[word] = 0;
  }
  node->durable_size = node->lowest_size = node->size;
  return 0;
}

/* The broken variant that keeps everything: what just changed is made durable at once. */
static void keep(fuse_ino_t ino) {
  if (!keeps_unsynced) return;
  commit_all();
  struct node *node = node_of(ino);
  if (node && S_ISREG(node->mode)) flush_file(node);
}

/* Replies */

static void fill_stat(fuse_ino_t ino, struct stat *stat) {
  struct node *node = nodes[ino];
  memset(stat, 0, sizeof *stat);
  stat->st_ino = ino;
  stat->st_mode = node->mode;
  stat->st_nlink = node->nlink;
  stat->st_uid = node->uid;
  stat->st_gid = node->gid;
  stat->st_size = S_ISDIR(node->mode) ? PAGE : S_ISLNK(node->mode) ? (off_t)strlen(node->target) : (off_t)node->size;
  stat->st_blksize = PAGE;
  stat->st_blocks = (stat->st_size + 511) / 512;
  stat->st_atim = node->atime;
  stat->st_mtim = node->mtime;
  stat->st_ctim = node->ctime;
}

static void reply_entry(fuse_req_t request, fuse_ino_t ino) {
  struct fuse_entry_param entry;
  memset(&entry, 0, sizeof entry);
  entry.ino = ino;
  entry.attr_timeout = TIMEOUT;
  entry.entry_timeout = TIMEOUT;
  fill_stat(ino, &entry.attr);
  fuse_reply_entry(request, &entry);
}

/* Operations */

static void on_init(void *userdata, struct fuse_conn_info *connection) {
  (void)userdata;
  connection->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_DONT_MASK);
}

static void on_lookup(fuse_req_t request, fuse_ino_t parent, const char *name) {
  struct node *folder = node_of(parent);
  if (!folder || !S_ISDIR(folder->mode)) return (void)fuse_reply_err(request, ENOTDIR);
  struct entry *entry = find_entry(folder, name);
  if (!entry) return (void)fuse_reply_err(request, ENOENT);
  reply_entry(request, entry->ino);
}

static void on_forget(fuse_req_t request, fuse_ino_t ino, uint64_t lookups) {
  (void)ino;
  (void)lookups;
  fuse_reply_none(request);
}

static void on_forget_multi(fuse_req_t request, size_t count, struct fuse_forget_data *forgets) {
  (void)count;
  (void)forgets;
  fuse_reply_none(request);
}

static void on_getattr(fuse_req_t request, fuse_ino_t ino, struct fuse_file_info *file) {
  (void)file;
  if (!node_of(ino)) return (void)fuse_reply_err(request, ENOENT);
  struct stat stat;
  fill_stat(ino, &stat);
  fuse_reply_attr(request, &stat, TIMEOUT);
}

static void record_attribute_change(fuse_ino_t ino, struct node *node, enum change_kind kind) {
  char *path = node->parent ? folder_path(ino) : NULL;
  if (!path) return;
  record((struct change){.kind = kind, .path = path, .folder1 = ino, .folder2 = node->parent, .mode = node->mode & 07777, .uid = node->uid, .gid = node->gid});
}

static void on_setattr(fuse_req_t request, fuse_ino_t ino, struct stat *attributes, int set, struct fuse_file_info *file) {
  (void)file;
  struct node *node = node_of(ino);
  if (!node) return (void)fuse_reply_err(request, ENOENT);
  if (set & FUSE_SET_ATTR_MODE) {
    node->mode = (node->mode & S_IFMT) | (attributes->st_mode & 07777);
    if (S_ISREG(node->mode) && node->durable_fd >= 0) fchmod(node->durable_fd, node->mode & 07777);
    else if (S_ISDIR(node->mode)) record_attribute_change(ino, node, CHANGE_CHMOD);
  }
  if (set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    if (set & FUSE_SET_ATTR_UID) node->uid = attributes->st_uid;
    if (set & FUSE_SET_ATTR_GID) node->gid = attributes->st_gid;
    if (S_ISREG(node->mode) && node->durable_fd >= 0) fchown(node->durable_fd, node->uid, node->gid);
    else if (S_ISDIR(node->mode)) record_attribute_change(ino, node, CHANGE_CHOWN);
  }
  if (set & FUSE_SET_ATTR_SIZE) {
    if (!S_ISREG(node->mode)) return (void)fuse_reply_err(request, S_ISDIR(node->mode) ? EISDIR : EINVAL);
    int error = load(node);
    if (error) return (void)fuse_reply_err(request, error);
    resize(node, attributes->st_size);
  }
  if (set & FUSE_SET_ATTR_ATIME) node->atime = attributes->st_atim;
  if (set & FUSE_SET_ATTR_ATIME_NOW) node->atime = now();
  if (set & FUSE_SET_ATTR_MTIME) node->mtime = attributes->st_mtim;
  if (set & FUSE_SET_ATTR_MTIME_NOW) node->mtime = now();
  node->ctime = now();
  keep(ino);
  struct stat stat;
  fill_stat(ino, &stat);
  fuse_reply_attr(request, &stat, TIMEOUT);
}

static void on_readlink(fuse_req_t request, fuse_ino_t ino) {
  struct node *node = node_of(ino);
  if (!node || !S_ISLNK(node->mode)) return (void)fuse_reply_err(request, EINVAL);
  fuse_reply_readlink(request, node->target);
}

/* The checks every new name needs; 0 when `name` may be made in `parent`. */
static int may_add(fuse_ino_t parent, const char *name) {
  struct node *folder = node_of(parent);
  if (!folder || !S_ISDIR(folder->mode)) return ENOTDIR;
  if (folder->nlink == 0) return ENOENT;
  if (find_entry(folder, name)) return EEXIST;
  return 0;
}

static int make_file(fuse_req_t request, fuse_ino_t parent, const char *name, mode_t mode, fuse_ino_t *made) {
  int error = may_add(parent, name);
  if (error) return error;
  const struct fuse_ctx *context = fuse_req_ctx(request);
  fuse_ino_t ino = new_node(S_IFREG | (mode & 07777), context->uid, context->gid);
  struct node *node = nodes[ino];
  char unnamed[32];
  snprintf(unnamed, sizeof unnamed, "%lu", (unsigned long)ino);
  node->durable_fd = openat(unnamed_dir, unnamed, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
  if (node->durable_fd < 0) return errno;
  if (fchown(node->durable_fd, context->uid, context->gid) != 0 || fchmod(node->durable_fd, mode & 07777) != 0) return errno;
  node->loaded = 1;
  node->nlink = 1;
  add_entry(nodes[parent], name, ino);
  record((struct change){.kind = CHANGE_CREATE, .path = entry_path(parent, name), .ino = ino, .folder1 = parent});
  keep(ino);
  *made = ino;
  return 0;
}

static void on_mknod(fuse_req_t request, fuse_ino_t parent, const char *name, mode_t mode, dev_t device) {
  (void)device;
  if (!S_ISREG(mode)) return (void)fuse_reply_err(request, EPERM);
  fuse_ino_t ino;
  int error = make_file(request, parent, name, mode, &ino);
  if (error) return (void)fuse_reply_err(request, error);
  reply_entry(request, ino);
}

static void on_create(fuse_req_t request, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *file) {
  fuse_ino_t ino;
  int error = make_file(request, parent, name, mode, &ino);
  if (error) return (void)fuse_reply_err(request, error);
  nodes[ino]->opens++;
  file->keep_cache = 0;
  file->direct_io = 0;
  struct fuse_entry_param entry;
  memset(&entry, 0, sizeof entry);
  entry.ino = ino;
  entry.attr_timeout = entry.entry_timeout = TIMEOUT;
  fill_stat(ino, &entry.attr);
  fuse_reply_create(request, &entry, file);
}

static void on_mkdir(fuse_req_t request, fuse_ino_t parent, const char *name, mode_t mode) {
  int error = may_add(parent, name);
  if (error) return (void)fuse_reply_err(request, error);
  const struct fuse_ctx *context = fuse_req_ctx(request);
  fuse_ino_t ino = new_node(S_IFDIR | (mode & 07777), context->uid, context->gid);
  nodes[ino]->nlink = 2;
  nodes[ino]->parent = parent;
  add_entry(nodes[parent], name, ino);
  nodes[parent]->nlink++;
  record((struct change){.kind = CHANGE_MKDIR, .path = entry_path(parent, name), .folder1 = parent, .mode = mode & 07777, .uid = context->uid, .gid = context->gid});
  keep(ino);
  reply_entry(request, ino);
}

static void on_symlink(fuse_req_t request, const char *target, fuse_ino_t parent, const char *name) {
  int error = may_add(parent, name);
  if (error) return (void)fuse_reply_err(request, error);
  const struct fuse_ctx *context = fuse_req_ctx(request);
  fuse_ino_t ino = new_node(S_IFLNK | 0777, context->uid, context->gid);
  nodes[ino]->nlink = 1;
  nodes[ino]->target = checked(strdup(target));
  add_entry(nodes[parent], name, ino);
  record((struct change){.kind = CHANGE_SYMLINK, .path = entry_path(parent, name), .target = checked(strdup(target)), .folder1 = parent, .uid = context->uid, .gid = context->gid});
  keep(ino);
  reply_entry(request, ino);
}

static void on_link(fuse_req_t request, fuse_ino_t ino, fuse_ino_t parent, const char *name) {
  struct node *node = node_of(ino);
  if (!node) return (void)fuse_reply_err(request, ENOENT);
  if (S_ISDIR(node->mode)) return (void)fuse_reply_err(request, EPERM);
  int error = may_add(parent, name);
  if (error) return (void)fuse_reply_err(request, error);
  char *existing = any_path(ino);
  if (!existing) return (void)fuse_reply_err(request, ENOENT);
  add_entry(nodes[parent], name, ino);
  node->nlink++;
  node->ctime = now();
  record((struct change){.kind = CHANGE_LINK, .path = existing, .path2 = entry_path(parent, name), .folder1 = parent});
  keep(ino);
  reply_entry(request, ino);
}

/* Drops one name of a node (the entry is already removed). */
static void unlinked(struct node *node) {
  node->nlink--;
  node->ctime = now();
  settle(node);
}

static void on_unlink(fuse_req_t request, fuse_ino_t parent, const char *name) {
  struct node *folder = node_of(parent);
  if (!folder || !S_ISDIR(folder->mode)) return (void)fuse_reply_err(request, ENOTDIR);
  struct entry *entry = find_entry(folder, name);
  if (!entry) return (void)fuse_reply_err(request, ENOENT);
  struct node *node = nodes[entry->ino];
  if (S_ISDIR(node->mode)) return (void)fuse_reply_err(request, EISDIR);
  record((struct change){.kind = CHANGE_UNLINK, .path = entry_path(parent, name), .folder1 = parent});
  remove_entry(folder, entry);
  keep(0);
  unlinked(node);
  fuse_reply_err(request, 0);
}

static void on_rmdir(fuse_req_t request, fuse_ino_t parent, const char *name) {
  struct node *folder = node_of(parent);
  if (!folder || !S_ISDIR(folder->mode)) return (void)fuse_reply_err(request, ENOTDIR);
  struct entry *entry = find_entry(folder, name);
  if (!entry) return (void)fuse_reply_err(request, ENOENT);
  fuse_ino_t ino = entry->ino;
  struct node *node = nodes[ino];
  if (!S_ISDIR(node->mode)) return (void)fuse_reply_err(request, ENOTDIR);
  if (node->live_entries > 0) return (void)fuse_reply_err(request, ENOTEMPTY);
  record((struct change){.kind = CHANGE_RMDIR, .path = entry_path(parent, name), .folder1 = parent, .folder2 = ino});
  remove_entry(folder, entry);
  folder->nlink--;
  node->nlink = 0;
  node->parent = 0;
  keep(0);
  fuse_reply_err(request, 0);
}

static int is_within(fuse_ino_t folder, fuse_ino_t ancestor) {
  for (fuse_ino_t at = folder; at != 0; at = at == FUSE_ROOT_ID ? 0 : nodes[at]->parent)
    if (at == ancestor) return 1;
  return 0;
}

static void on_rename(fuse_req_t request, fuse_ino_t parent, const char *name, fuse_ino_t new_parent, const char *new_name, unsigned int flags) {
  if (flags & ~RENAME_NOREPLACE) return (void)fuse_reply_err(request, EINVAL);
  struct node *from = node_of(parent), *to = node_of(new_parent);
  if (!from || !to || !S_ISDIR(from->mode) || !S_ISDIR(to->mode)) return (void)fuse_reply_err(request, ENOTDIR);
  if (to->nlink == 0) return (void)fuse_reply_err(request, ENOENT);
  struct entry *source = find_entry(from, name);
  if (!source) return (void)fuse_reply_err(request, ENOENT);
  fuse_ino_t ino = source->ino;
  struct node *node = nodes[ino];
  struct entry *target = find_entry(to, new_name);
  if (target) {
    if (flags & RENAME_NOREPLACE) return (void)fuse_reply_err(request, EEXIST);
    if (target->ino == ino) return (void)fuse_reply_err(request, 0);
    struct node *replaced = nodes[target->ino];
    if (S_ISDIR(node->mode) && !S_ISDIR(replaced->mode)) return (void)fuse_reply_err(request, ENOTDIR);
    if (!S_ISDIR(node->mode) && S_ISDIR(replaced->mode)) return (void)fuse_reply_err(request, EISDIR);
    if (S_ISDIR(replaced->mode) && replaced->live_entries > 0) return (void)fuse_reply_err(request, ENOTEMPTY);
  }
  if (S_ISDIR(node->mode) && is_within(new_parent, ino)) return (void)fuse_reply_err(request, EINVAL);
  record((struct change){.kind = CHANGE_RENAME, .path = entry_path(parent, name), .path2 = entry_path(new_parent, new_name), .folder1 = parent, .folder2 = new_parent, .flags = flags});
  if (target) {
    struct node *replaced = nodes[target->ino];
    remove_entry(to, target);
    if (S_ISDIR(replaced->mode)) {
      to->nlink--;
      replaced->nlink = 0;
      replaced->parent = 0;
    } else {
      unlinked(replaced);
    }
  }
  source = find_entry(from, name); /* removing the target may have moved it */
  remove_entry(from, source);
  add_entry(to, new_name, ino);
  if (S_ISDIR(node->mode) && parent != new_parent) {
    from->nlink--;
    to->nlink++;
    node->parent = new_parent;
  }
  node->ctime = now();
  keep(0);
  fuse_reply_err(request, 0);
}

static void on_open(fuse_req_t request, fuse_ino_t ino, struct fuse_file_info *file) {
  struct node *node = node_of(ino);
  if (!node) return (void)fuse_reply_err(request, ENOENT);
  if (!S_ISREG(node->mode)) return (void)fuse_reply_err(request, EISDIR);
  int error = load(node);
  if (error) return (void)fuse_reply_err(request, error);
  if (file->flags & O_TRUNC) resize(node, 0);
  keep(ino);
  node->opens++;
  file->keep_cache = 0;
  file->direct_io = 0;
  fuse_reply_open(request, file);
}

static void on_read(fuse_req_t request, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *file) {
  (void)file;
  struct node *node = node_of(ino);
  if (!node) return (void)fuse_reply_err(request, ENOENT);
  int error = load(node);
  if (error) return (void)fuse_reply_err(request, error);
  if ((size_t)offset >= node->size) return (void)fuse_reply_buf(request, NULL, 0);
  if (size > node->size - offset) size = node->size - offset;
  fuse_reply_buf(request, (const char *)node->data + offset, size);
}

static void on_write(fuse_req_t request, fuse_ino_t ino, const char *buffer, size_t size, off_t offset, struct fuse_file_info *file) {
  (void)file;
  struct node *node = node_of(ino);
  if (!node) return (void)fuse_reply_err(request, ENOENT);
  int error = load(node);
  if (error) return (void)fuse_reply_err(request, error);
  size_t end = offset + size;
  reserve(node, end);
  memcpy(node->data + offset, buffer, size);
  if (end > node->size) node->size = end;
  mark_dirty(node, offset, end);
  node->mtime = node->ctime = now();
  keep(ino);
  fuse_reply_write(request, size);
}

static void on_fallocate(fuse_req_t request, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info *file) {
  (void)file;
  struct node *node = node_of(ino);
  if (!node) return (void)fuse_reply_err(request, ENOENT);
  if (mode != 0) return (void)fuse_reply_err(request, EOPNOTSUPP);
  int error = load(node);
  if (error) return (void)fuse_reply_err(request, error);
  if ((size_t)(offset + length) > node->size) resize(node, offset + length);
  keep(ino);
  fuse_reply_err(request, 0);
}

static void on_release(fuse_req_t request, fuse_ino_t ino, struct fuse_file_info *file) {
  (void)file;
  struct node *node = node_of(ino);
  if (node) {
    node->opens--;
    settle(node);
  }
  fuse_reply_err(request, 0);
}

static void on_fsync(fuse_req_t request, fuse_ino_t ino, int datasync, struct fuse_file_info *file) {
  (void)datasync;
  (void)file;
  struct node *node = node_of(ino);
  if (!node) return (void)fuse_reply_err(request, ENOENT);
  fuse_reply_err(request, S_ISREG(node->mode) && !ignores_fsync ? flush_file(node) : 0);
}

static void on_opendir(fuse_req_t request, fuse_ino_t ino, struct fuse_file_info *file) {
  struct node *node = node_of(ino);
  if (!node || !S_ISDIR(node->mode)) return (void)fuse_reply_err(request, ENOTDIR);
  node->readers++;
  fuse_reply_open(request, file);
}

static void on_readdir(fuse_req_t request, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *file) {
  (void)file;
  struct node *folder = node_of(ino);
  if (!folder) return (void)fuse_reply_err(request, ENOENT);
  char *buffer = checked(malloc(size));
  size_t used = 0;
  /* Offsets: 0 ".", 1 "..", 2 + i the folder's i-th entry (removed entries keep their place). */
  for (size_t at = offset; at < folder->entry_count + 2; at++) {
    const char *name;
    fuse_ino_t target;
    if (at == 0) name = ".", target = ino;
    else if (at == 1) name = "..", target = ino == FUSE_ROOT_ID ? ino : folder->parent;
    else if (!folder->entries[at - 2].name) continue;
    else name = folder->entries[at - 2].name, target = folder->entries[at - 2].ino;
    struct stat stat;
    memset(&stat, 0, sizeof stat);
    stat.st_ino = target;
    stat.st_mode = target && node_of(target) ? nodes[target]->mode : S_IFDIR;
    size_t length = fuse_add_direntry(request, buffer + used, size - used, name, &stat, at + 1);
    if (length > size - used) break;
    used += length;
  }
  fuse_reply_buf(request, buffer, used);
  free(buffer);
}

static void on_releasedir(fuse_req_t request, fuse_ino_t ino, struct fuse_file_info *file) {
  (void)file;
  struct node *node = node_of(ino);
  if (node) {
    node->readers--;
    compact(node);
  }
  fuse_reply_err(request, 0);
}

static void on_fsyncdir(fuse_req_t request, fuse_ino_t ino, int datasync, struct fuse_file_info *file) {
  (void)datasync;
  (void)file;
  commit_folder(ino);
  fuse_reply_err(request, 0);
}

static void on_statfs(fuse_req_t request, fuse_ino_t ino) {
  (void)ino;
  struct statvfs stat;
  if (fstatvfs(durable_dir, &stat) != 0) return (void)fuse_reply_err(request, errno);
  fuse_reply_statfs(request, &stat);
}

static const struct fuse_lowlevel_ops operations = {
    .init = on_init,
    .lookup = on_lookup,
    .forget = on_forget,
    .forget_multi = on_forget_multi,
    .getattr = on_getattr,
    .setattr = on_setattr,
    .readlink = on_readlink,
    .mknod = on_mknod,
    .mkdir = on_mkdir,
    .unlink = on_unlink,
    .rmdir = on_rmdir,
    .symlink = on_symlink,
    .rename = on_rename,
    .link = on_link,
    .open = on_open,
    .read = on_read,
    .write = on_write,
    .release = on_release,
    .fsync = on_fsync,
    .opendir = on_opendir,
    .readdir = on_readdir,
    .releasedir = on_releasedir,
    .fsyncdir = on_fsyncdir,
    .statfs = on_statfs,
    .create = on_create,
    .fallocate = on_fallocate,
};

/* Start: the durable folder as it is, every name and file of it durable. */

struct known {
  dev_t device;
  ino_t inode;
  fuse_ino_t ino;
};
static struct known *known;
static size_t known_count, known_capacity;

static void load_folder(int descriptor, fuse_ino_t folder_ino, const char *path) {
  DIR *listing = fdopendir(dup(descriptor));
  if (!listing) {
    perror(path);
    exit(1);
  }
  for (struct dirent *item; (item = readdir(listing));) {
    if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0) continue;
    struct stat stat;
    if (fstatat(descriptor, item->d_name, &stat, AT_SYMLINK_NOFOLLOW) != 0) continue;
    fuse_ino_t ino = 0;
    if (S_ISREG(stat.st_mode) && stat.st_nlink > 1)
      for (size_t index = 0; index < known_count; index++)
        if (known[index].device == stat.st_dev && known[index].inode == stat.st_ino) ino = known[index].ino;
    if (ino) {
      nodes[ino]->nlink++;
      add_entry(nodes[folder_ino], item->d_name, ino);
      continue;
    }
    if (!S_ISREG(stat.st_mode) && !S_ISDIR(stat.st_mode) && !S_ISLNK(stat.st_mode)) {
      fprintf(stderr, "power-cut-file-system: %s/%s is neither a file, a folder nor a symbolic link: left out\n", path, item->d_name);
      continue;
    }
    ino = new_node(stat.st_mode, stat.st_uid, stat.st_gid);
    struct node *node = nodes[ino];
    node->atime = stat.st_atim;
    node->mtime = stat.st_mtim;
    node->ctime = stat.st_ctim;
    add_entry(nodes[folder_ino], item->d_name, ino);
    if (S_ISREG(stat.st_mode)) {
      node->nlink = 1;
      node->size = node->durable_size = node->lowest_size = stat.st_size;
      node->durable_fd = openat(descriptor, item->d_name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
      if (node->durable_fd < 0) {
        perror(item->d_name);
        exit(1);
      }
      if (stat.st_nlink > 1) {
        if (known_count == known_capacity) {
          known_capacity = known_capacity ? known_capacity * 2 : 64;
          known = checked(realloc(known, known_capacity * sizeof *known));
        }
        known[known_count++] = (struct known){stat.st_dev, stat.st_ino, ino};
      }
    } else if (S_ISLNK(stat.st_mode)) {
      node->nlink = 1;
      char target[PATH_MAX + 1];
      ssize_t length = readlinkat(descriptor, item->d_name, target, PATH_MAX);
      target[length < 0 ? 0 : length] = 0;
      node->target = checked(strdup(target));
    } else {
      node->nlink = 2;
      node->parent = folder_ino;
      nodes[folder_ino]->nlink++;
      int inner = openat(descriptor, item->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (inner < 0) {
        perror(item->d_name);
        exit(1);
      }
      char *inner_path;
      if (asprintf(&inner_path, "%s/%s", path, item->d_name) < 0) abort();
      load_folder(inner, ino, inner_path);
      free(inner_path);
      close(inner);
    }
  }
  closedir(listing);
}

static void empty_folder(int descriptor) {
  DIR *listing = fdopendir(dup(descriptor));
  if (!listing) return;
  for (struct dirent *item; (item = readdir(listing));)
    if (strcmp(item->d_name, ".") != 0 && strcmp(item->d_name, "..") != 0) unlinkat(descriptor, item->d_name, 0);
  closedir(listing);
}

int main(int count, char **arguments) {
  if (count == 5 && strcmp(arguments[4], "keeps-unsynced") == 0) keeps_unsynced = 1;
  else if (count == 5 && strcmp(arguments[4], "ignores-fsync") == 0) ignores_fsync = 1;
  else if (count != 4) {
    fprintf(stderr, "usage: %s <durable folder> <unnamed folder> <mount point> [keeps-unsynced | ignores-fsync]\n", arguments[0]);
    return 2;
  }
  /* Dies with the process that started it: a test that crashed leaves no server behind. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* Every file of the durable folder stays open: room for many. */
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  durable_dir = open(arguments[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  unnamed_dir = open(arguments[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (durable_dir < 0 || unnamed_dir < 0) {
    perror("opening the durable or the unnamed folder");
    return 1;
  }
  empty_folder(unnamed_dir);
  new_node(0, 0, 0); /* ino 0 is no node */
  struct stat root;
  if (fstat(durable_dir, &root) != 0) return 1;
  fuse_ino_t root_ino = new_node(root.st_mode, root.st_uid, root.st_gid);
  nodes[root_ino]->nlink = 2;
  load_folder(durable_dir, root_ino, arguments[1]);

  char *fuse_arguments[] = {arguments[0], "-o", "allow_other,default_permissions,fsname=power-cut,subtype=power-cut", NULL};
  struct fuse_args args = FUSE_ARGS_INIT(3, fuse_arguments);
  struct fuse_session *session = fuse_session_new(&args, &operations, sizeof operations, NULL);
  if (!session) return 1;
  if (fuse_set_signal_handlers(session) != 0) return 1;
  if (fuse_session_mount(session, arguments[3]) != 0) return 1;
  printf("mounted\n");
  fflush(stdout);
  int result = fuse_session_loop(session);
  fuse_session_unmount(session);
  fuse_remove_signal_handlers(session);
  fuse_session_destroy(session);
  return result < 0 ? 1 : 0;
}
