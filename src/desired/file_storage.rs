//! File storage: the EFS file system for moodledata and one mount target per private AZ.

use super::{Part, json_name};
use crate::model::{FileSystemProps, Kind, MountTargetProps, Props, Ref, Set};
use crate::spec::Spec;

/// The file system and its mount targets.
pub(super) fn file_storage(spec: &Spec, private: &[(String, Ref)]) -> Part {
    let mut out = Part::default();
    let fs = &spec.file_storage;
    out.add(
        Kind::FileSystem,
        crate::names::FILE_SYSTEM,
        Props::FileSystem(FileSystemProps {
            encrypted: true,
            kms_key_id: fs.kms_key_id.clone(),
            performance_mode: json_name(&fs.performance_mode),
            throughput_mode: json_name(&fs.throughput_mode),
            provisioned_throughput_mibps: fs.provisioned_throughput_mibps,
            transition_to_ia: fs.transition_to_ia.clone(),
            transition_to_primary_storage_class: fs.transition_to_primary_storage_class.clone(),
            backup: fs.backup,
        }),
    );
    let mut seen_azs = std::collections::BTreeSet::new();
    for (az, subnet) in private {
        if !seen_azs.insert(az.clone()) {
            continue; // EFS allows one mount target per AZ
        }
        out.add(
            Kind::MountTarget,
            az,
            Props::MountTarget(MountTargetProps {
                file_system: Ref::to(Kind::FileSystem, crate::names::FILE_SYSTEM),
                subnet: subnet.clone(),
                security_groups: Set::new([Ref::to(Kind::SecurityGroup, "efs")]),
            }),
        );
    }
    out
}
