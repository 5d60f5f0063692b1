"""Start moto in server mode, with small patches where moto 5.2.5 answers differently from AWS.

Each patch restores one documented AWS behaviour and names the test that needs it. The fixes
live here, in the emulator launcher, so that moodle-ha's product code stays faithful to AWS and
never special-cases the emulator.

Usage: python moto_launcher.py [-H HOST] [-p PORT]   (the arguments of moto_server)
"""

import json
import sys

PATCHES = []


def patch(func):
    """Register a patch; the launcher applies every registered patch before serving."""
    PATCHES.append(func)
    return func


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
def ec2_nat_gateway_tag_filters():
    """EC2 `DescribeNatGateways` with a `tag:<key>` (or `tag-key`, `tag-value`) filter.

    AWS: returns only the gateways carrying the tag. moto 5.2.5: ignores tag filters and
    returns every gateway in the region, so a tool that finds its resources by tag would
    adopt another stack's gateways. Needed by: tests/it/adopt.rs (nothing left tagged after
    destroy) and every observe of a stack with NAT gateways.
    """
    from moto.ec2.models.nat_gateways import NatGatewayBackend
    from moto.ec2.utils import is_tag_filter, tag_filter_matches

    original = NatGatewayBackend.describe_nat_gateways

    def describe_nat_gateways(self, filters, nat_gateway_ids):
        gateways = original(self, filters, nat_gateway_ids)
        for name, values in (filters or {}).items():
            if is_tag_filter(name):
                gateways = [g for g in gateways if tag_filter_matches(g, name, values)]
        return gateways

    NatGatewayBackend.describe_nat_gateways = describe_nat_gateways


def main(argv):
    for apply_patch in PATCHES:
        apply_patch()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
