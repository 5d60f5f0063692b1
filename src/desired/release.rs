//! The release the nodes run (`release/site`): the record in the stack and the archive it
//! names in the stack's bucket, from the release the CLI built (a fact read at plan time).

use super::{Facts, Part};
use crate::model::{Kind, Props, Ref, ReleaseProps};
use crate::names::{BUCKET, Names, RELEASES_PREFIX, partition};
use crate::spec::Spec;

/// The key name of the release resource.
pub const RELEASE: &str = "site";

/// What every node needs to run the release: read the record, download the archive (the
/// releases prefix of the stack's bucket `bucket` only).
pub(super) fn read_the_release(stack: &str, region: &str, bucket: &str) -> [serde_json::Value; 2] {
    let names = Names::of(stack);
    let partition = partition(region);
    [
        serde_json::json!({
            "Sid": "ReadTheReleaseRecord",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": format!("arn:{partition}:ssm:{region}:*:parameter{}", names.release_parameter())
        }),
        serde_json::json!({
            "Sid": "DownloadTheRelease",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": format!("arn:{partition}:s3:::{bucket}/{RELEASES_PREFIX}*")
        }),
    ]
}

/// `release/site`, when the release was built (plan and apply build it; render does not).
pub(super) fn release(spec: &Spec, facts: &Facts) -> Part {
    let mut out = Part::default();
    if let Some(built) = &facts.release {
        out.add(
            Kind::Release,
            RELEASE,
            Props::Release(ReleaseProps::of(
                Names::of(&spec.name).release_parameter(),
                Ref::to(Kind::Bucket, BUCKET),
                built,
            )),
        );
    }
    out
}
