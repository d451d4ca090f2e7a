"""Every S3 request the Pulumi CLI's diy (self-managed) backend makes for a project-scoped stack,
with the keys derived the way the CLI derives them, so the state policies are tested against the
CLI and not against a second copy of their own patterns.

Source: pulumi/pulumi at 1b5949891b3cefcb9974752b24a5ecef0acc86c8 (files under pkg/backend/diy/
unless a path says otherwise; `file:line` below). Each Go bucket call is mapped to the S3
permission it needs: reads and `Exists` (HeadObject) need s3:GetObject, writes s3:PutObject,
deletes s3:DeleteObject, a copy s3:GetObject on its source and s3:PutObject on its target, a
listing s3:ListBucket on the bucket
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html).
Bucket keys always use "/" (bucket.go:111-137, wrappedBucket: `filepath.ToSlash`).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

BOOKKEEPING_DIR = ".pulumi"
"""workspace.BookkeepingDir: sdk/go/common/util/pulumihome/pulumihome.go:28."""
STACK_DIR, HISTORY_DIR, BACKUP_DIR, LOCK_DIR = "stacks", "history", "backups", "locks"
"""pkg/workspace/paths.go:42-52 (BackupDir, HistoryDir, StackDir, LockDir)."""
META_PATH = posixpath.join(BOOKKEEPING_DIR, "meta.yaml")
"""meta.go:30, pulumiMetaPath."""
DIY_ORGANIZATION = "organization"
"""backend.go:185-195: a diy stack's organization is always "organization"."""

LOCK_ID = "6a1d7a1e-2c57-4d5e-9f0e-0c7d5b1a2b3c"
OTHER_LOCK_ID = "0f4e2d1c-9b8a-4765-8321-fedcba987654"
"""The lock of another run of the same stack, which checkForLock reads (lock.go:90-107)."""
NOW = 1767225600000000000
"""time.Now().UnixNano() in the names of history, backup and retained checkpoint files."""


@dataclass(frozen=True)
class Access:
    action: str
    resource: str
    where: str
    """The CLI's source line that makes the request."""


@dataclass(frozen=True)
class DiyStack:
    bucket: str
    project: str
    name: str

    def fully_qualified_name(self) -> str:
        """backend.go:190-195, diyBackendReference.FullyQualifiedName."""
        return f"{DIY_ORGANIZATION}/{self.project}/{self.name}"

    def stack_base_path(self) -> str:
        """store.go:122-126 (projectReferenceStore.StackBasePath)."""
        return posixpath.join(BOOKKEEPING_DIR, STACK_DIR, self.project, self.name)

    def checkpoint(self) -> str:
        """state.go:531, stackPath: StackBasePath + ".json" (uncompressed)."""
        return self.stack_base_path() + ".json"

    def tags(self) -> str:
        """stack_tags.go:38-42, stackTagsPath."""
        return self.stack_base_path() + ".pulumi-tags"

    def history_dir(self) -> str:
        """store.go:128-131."""
        return posixpath.join(BOOKKEEPING_DIR, HISTORY_DIR, self.project, self.name)

    def backup_dir(self) -> str:
        """store.go:133-136."""
        return posixpath.join(BOOKKEEPING_DIR, BACKUP_DIR, self.project, self.name)

    def lock_dir(self) -> str:
        """lock.go:166-173, stackLockDir: the lock directory joined with
        fsutil.QnamePath(FullyQualifiedName()), which only turns the name's "/" into the OS's
        separator (sdk/go/common/util/fsutil/qname.go:25-27): "/" again in a bucket key."""
        return posixpath.join(BOOKKEEPING_DIR, LOCK_DIR, self.fully_qualified_name())

    def lock_path(self, lock_id: str = LOCK_ID) -> str:
        """lock.go:175-178."""
        return posixpath.join(self.lock_dir(), f"{lock_id}.json")

    # --- S3 requests ---------------------------------------------------------------------------

    def _object(self, action: str, key: str, where: str) -> Access:
        return Access(action, f"arn:aws:s3:::{self.bucket}/{key}", where)

    def _list(self, where: str) -> Access:
        return Access("s3:ListBucket", f"arn:aws:s3:::{self.bucket}", where)

    def _copy(self, source: str, target: str, where: str) -> list[Access]:
        return [self._object("s3:GetObject", source, where), self._put(target, where)]

    def _get(self, key: str, where: str) -> Access:
        return self._object("s3:GetObject", key, where)

    def _put(self, key: str, where: str) -> Access:
        return self._object("s3:PutObject", key, where)

    def login(self) -> list[Access]:
        """New(): the layout file read (meta.go:117, from backend.go:330), then the legacy
        layout's stacks listed for a warning (backend.go:384, store.go:378)."""
        return [self._get(META_PATH, "meta.go:117"), self._list("backend.go:384")]

    def read(self) -> list[Access]:
        """What a preview and an update read: the checkpoint found by listing its prefix
        (state.go:535), its existence (state.go:122) and content (state.go:205), and the
        stack's tags (state.go:97 -> stack_tags.go:55)."""
        return [
            *self.login(),
            self._list("state.go:535"),
            self._get(self.checkpoint(), "state.go:122"),
            self._get(self.checkpoint(), "state.go:205"),
            self._get(self.tags(), "stack_tags.go:55"),
        ]

    def lock(self) -> list[Access]:
        """Lock and Unlock (lock.go:130-164): list the lock directory (lock.go:66), read the
        other runs' locks (lock.go:91), write ours (lock.go:144), delete it (lock.go:157)."""
        return [
            self._list("lock.go:66"),
            self._get(self.lock_path(OTHER_LOCK_ID), "lock.go:91"),
            self._put(self.lock_path(), "lock.go:144"),
            self._object("s3:DeleteObject", self.lock_path(), "lock.go:157"),
        ]

    def save(self) -> list[Access]:
        """saveCheckpoint (state.go:256-370): the old checkpoint copied to `.bak`
        (state.go:301 -> 465-486), the new one written (state.go:319) and, with
        PULUMI_RETAIN_CHECKPOINTS, kept under a timestamped name (state.go:364)."""
        checkpoint = self.checkpoint()
        return [
            self._get(checkpoint, "state.go:467"),
            *self._copy(checkpoint, checkpoint + ".bak", "state.go:473"),
            self._put(checkpoint, "state.go:319"),
            self._put(f"{checkpoint}.{NOW}", "state.go:364"),
        ]

    def record(self) -> list[Access]:
        """After a real update (backend.go:1455-1458): addToHistory writes the update's record
        and copies the checkpoint beside it (state.go:690-715); backupStack reads the checkpoint
        and writes a timestamped copy (state.go:490-521)."""
        prefix = posixpath.join(self.history_dir(), f"{self.name}-{NOW}")
        return [
            self._put(f"{prefix}.history.json", "state.go:708"),
            *self._copy(self.checkpoint(), f"{prefix}.checkpoint.json", "state.go:714"),
            self._get(self.checkpoint(), "state.go:500"),
            self._put(posixpath.join(self.backup_dir(), f"{self.name}.{NOW}.json"), "state.go:520"),
        ]

    def history(self) -> list[Access]:
        """getHistory (state.go:575-644), what `automation rollback` reads: the history
        directory listed (state.go:585) and each record read (state.go:630)."""
        return [
            self._list("state.go:585"),
            self._get(
                posixpath.join(self.history_dir(), f"{self.name}-{NOW}.history.json"),
                "state.go:630",
            ),
        ]

    def cancel(self) -> list[Access]:
        """CancelCurrentUpdate (`pulumi cancel`, backend.go:1684-1710): every lock listed and
        deleted."""
        return [
            self._list("backend.go:1686"),
            self._object("s3:DeleteObject", self.lock_path(OTHER_LOCK_ID), "backend.go:1700"),
        ]

    def preview(self) -> list[Access]:
        """`pulumi preview`: reads only, no lock (backend.go:1197-1201)."""
        return self.read()

    def update(self) -> list[Access]:
        """`pulumi up` (backend.go:1203-1213): locked, read, saved as it goes, recorded."""
        return [*self.lock(), *self.read(), *self.save(), *self.record()]
