"""EFS: UpdateFileSystem, PutBackupPolicy, FileSystemAlreadyExists with the file system's ID, file-system policies.

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

import json

import botocore.exceptions

from . import patch
from .expect import Mismatch, expect_equal, expect_error


@patch
def efs_update_file_system():
    """EFS `UpdateFileSystem` (PUT /2015-02-01/file-systems/{id}).

    AWS: changes ThroughputMode / ProvisionedThroughputInMibps in place and answers with the file
    system description (202). moto 5.2.5: HTTP 500, "The update_file_system action has not been
    implemented". Needed by: tests/it/efs.rs (throughput mode update, drift repair).
    """
    from moto.efs.models import EFSBackend
    from moto.efs.responses import EFSResponse

    def backend_update(self, file_system_id, throughput_mode, provisioned):
        _, fss = self.describe_file_systems(file_system_id=file_system_id)
        fs = fss[0]
        if throughput_mode:
            fs.throughput_mode = throughput_mode
        if throughput_mode and throughput_mode != "provisioned":
            fs.provisioned_throughput_in_mibps = None
        if provisioned is not None:
            fs.provisioned_throughput_in_mibps = provisioned
        return fs

    def response_update(self):
        fs = self.efs_backend.update_file_system(
            self._get_param("FileSystemId"),
            self._get_param("ThroughputMode"),
            self._get_param("ProvisionedThroughputInMibps"),
        )
        return json.dumps(fs.info_json()), {"status": 202, "Content-Type": "application/json"}

    EFSBackend.update_file_system = backend_update
    EFSResponse.update_file_system = response_update


@patch
def efs_put_backup_policy():
    """EFS `PutBackupPolicy` (PUT /2015-02-01/file-systems/{id}/backup-policy).

    AWS: sets automatic backups ENABLED or DISABLED and answers with the policy. moto 5.2.5:
    HTTP 500, action not implemented. Needed by: tests/it/efs.rs (backup policy update).
    """
    from moto.efs.models import FileSystem
    from moto.efs.responses import EFSResponse

    original = FileSystem.backup_policy

    def backup_policy(self):
        # AWS answers DISABLED (not PolicyNotFound) once a policy has been put.
        explicit = getattr(self, "_backup_status", None)
        return {"Status": explicit} if explicit else original.fget(self)

    def response_put(self):
        fs_id = self._get_param("FileSystemId")
        status = (self._get_param("BackupPolicy") or {}).get("Status", "DISABLED")
        _, fss = self.efs_backend.describe_file_systems(file_system_id=fs_id)
        fss[0]._backup = status == "ENABLED"
        fss[0]._backup_status = status
        return json.dumps({"BackupPolicy": {"Status": status}}), {"Content-Type": "application/json"}

    FileSystem.backup_policy = property(backup_policy)
    EFSResponse.put_backup_policy = response_put


@patch
def efs_file_system_already_exists_id():
    """EFS `CreateFileSystem` with a CreationToken already used (a retry whose answer was lost).

    AWS: HTTP 409 `FileSystemAlreadyExists` whose body carries the existing file system's
    `FileSystemId` (and `ErrorCode`), so the caller can adopt it. moto 5.2.5: the same error
    with a message only, no `FileSystemId`. Needed by: tests/it/resilience.rs
    (apply_converges_when_answers_are_lost) and every resumed create of a file system.
    """
    from moto.efs.exceptions import FileSystemAlreadyExists
    from moto.efs.models import EFSBackend

    original = EFSBackend.create_file_system

    def create_file_system(self, creation_token, *args, **kwargs):
        if creation_token and creation_token in self.creation_tokens:
            existing = next(fs for fs in self.file_systems_by_id.values() if fs.creation_token == creation_token)
            error = FileSystemAlreadyExists(creation_token)
            error.description = json.dumps({
                "__type": "FileSystemAlreadyExists",
                "ErrorCode": "FileSystemAlreadyExists",
                "Message": error.message,
                "message": error.message,
                "FileSystemId": existing.file_system_id,
            })
            raise error
        return original(self, creation_token, *args, **kwargs)

    EFSBackend.create_file_system = create_file_system


@patch
def efs_delete_file_system_policy():
    """EFS `DeleteFileSystemPolicy` (DELETE /2015-02-01/file-systems/{id}/policy).

    AWS: removes the file-system policy (the default policy applies again: DescribeFileSystemPolicy
    answers PolicyNotFound) and answers 200. moto 5.2.5: HTTP 500, action not implemented.
    Needed by: issue 20's efs_not_publicly_accessible control (moodle-ha puts a policy; drift
    repair and destroy remove it).
    """
    from moto.efs.models import EFSBackend
    from moto.efs.responses import EFSResponse

    def backend_delete(self, file_system_id):
        _, fss = self.describe_file_systems(file_system_id=file_system_id)
        fss[0].file_system_policy = None

    def response_delete(self):
        self.efs_backend.delete_file_system_policy(self._get_param("FileSystemId"))
        return "{}", {"status": 200, "Content-Type": "application/json"}

    EFSBackend.delete_file_system_policy = backend_delete
    EFSResponse.delete_file_system_policy = response_delete


# Checks --------------------------------------------------------------------------------------


def check_idempotent_creates(ctx):
    """A creation token used before answers FileSystemAlreadyExists with the file system's ID."""
    efs = ctx.efs
    token = f"chk-{ctx.run}"
    fs = efs.create_file_system(CreationToken=f"{token}-fs")["FileSystemId"]
    try:
        efs.create_file_system(CreationToken=f"{token}-fs")
        raise Mismatch("CreateFileSystem with a used CreationToken: expected FileSystemAlreadyExists, got success")
    except botocore.exceptions.ClientError as error:
        expect_equal(error.response["Error"]["Code"], "FileSystemAlreadyExists", "CreateFileSystem with a used CreationToken: error")
        expect_equal(error.response.get("FileSystemId"), fs, "FileSystemAlreadyExists FileSystemId")
    efs.delete_file_system(FileSystemId=fs)


def check_file_system(ctx):
    """Throughput and backup policy updated in place; the file-system policy (issue 20) put, read and removed."""
    efs = ctx.efs
    fs = efs.create_file_system(CreationToken=f"chk-{ctx.run}-efs", Encrypted=True, ThroughputMode="bursting")["FileSystemId"]
    answer = efs.update_file_system(FileSystemId=fs, ThroughputMode="elastic")
    expect_equal((answer["FileSystemId"], answer["ThroughputMode"]), (fs, "elastic"), "UpdateFileSystem ThroughputMode=elastic answer")
    efs.update_file_system(FileSystemId=fs, ThroughputMode="provisioned", ProvisionedThroughputInMibps=128.0)
    described = efs.describe_file_systems(FileSystemId=fs)["FileSystems"][0]
    expect_equal((described["ThroughputMode"], described.get("ProvisionedThroughputInMibps")), ("provisioned", 128.0), "UpdateFileSystem provisioned 128 MiB/s")
    efs.update_file_system(FileSystemId=fs, ThroughputMode="elastic")
    described = efs.describe_file_systems(FileSystemId=fs)["FileSystems"][0]
    expect_equal((described["ThroughputMode"], described.get("ProvisionedThroughputInMibps")), ("elastic", None), "UpdateFileSystem back to elastic")
    for status in ("ENABLED", "DISABLED"):
        answer = efs.put_backup_policy(FileSystemId=fs, BackupPolicy={"Status": status})
        expect_equal(answer.get("BackupPolicy"), {"Status": status}, f"PutBackupPolicy {status} answer")
        expect_equal(efs.describe_backup_policy(FileSystemId=fs).get("BackupPolicy"), {"Status": status}, f"PutBackupPolicy {status} then DescribeBackupPolicy")

    expect_error("PolicyNotFound", efs.describe_file_system_policy, FileSystemId=fs)
    arn = f"arn:aws:elasticfilesystem:{ctx.region}:{ctx.account}:file-system/{fs}"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "tls", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*", "Resource": arn, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "nodes", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ctx.account}:role/{ctx.name('web')}"},
         "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"], "Resource": arn},
    ]}
    answer = efs.put_file_system_policy(FileSystemId=fs, Policy=json.dumps(policy))
    expect_equal((answer["FileSystemId"], json.loads(answer["Policy"])), (fs, policy), "PutFileSystemPolicy answer")
    answer = efs.describe_file_system_policy(FileSystemId=fs)
    expect_equal(json.loads(answer["Policy"]), policy, "DescribeFileSystemPolicy after PutFileSystemPolicy")
    efs.delete_file_system_policy(FileSystemId=fs)
    expect_error("PolicyNotFound", efs.describe_file_system_policy, FileSystemId=fs)
    efs.delete_file_system(FileSystemId=fs)

