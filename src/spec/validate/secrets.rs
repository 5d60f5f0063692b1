//! Rules of `secrets`: each administrator is an IAM role or user of the stack's account and
//! partition, named exactly as `aws:PrincipalArn` reads it.

use super::Checker;
use crate::spec::Spec;

re!(
    PRINCIPAL_ARN,
    r"^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):(role|user)/([\x21-\x29\x2B-\x7E]+/)*[A-Za-z0-9+=,.@_-]+$"
);
re!(SESSION_ARN, r"^arn:[a-z-]+:sts::[0-9]{12}:assumed-role/");

impl Checker<'_> {
    /// `secrets.administrators`: role or user ARNs without wildcards, of the stack's partition
    /// and account (when the certificate names it), none twice.
    pub(super) fn secrets(&mut self, spec: &Spec) {
        let admins = &spec.secrets.administrators;
        let partition = crate::names::partition(&spec.region);
        for (i, arn) in admins.iter().enumerate() {
            let path = format!("secrets.administrators[{i}]");
            if SESSION_ARN.is_match(arn) {
                self.err(&path, format!("`{arn}` is a session; name its role (`arn:{partition}:iam::<account>:role/<path>/<name>`): `aws:PrincipalArn` of a session is its role's ARN, with the role's path"));
                continue;
            }
            let Some(caps) = PRINCIPAL_ARN.captures(arn) else {
                self.err(&path, format!("`{arn}` is not an IAM role or user ARN without wildcards (e.g. `arn:{partition}:iam::123456789012:role/operators/moodle-admin`): the secrets' policies compare `aws:PrincipalArn` exactly"));
                continue;
            };
            if &caps[1] != partition {
                self.err(
                    &path,
                    format!(
                        "`{arn}` is in partition `{}`; the stack's region `{}` is in `{partition}`",
                        &caps[1], spec.region
                    ),
                );
            }
            if let Some(account) = spec.account_id().filter(|a| *a != &caps[2]) {
                self.err(&path, format!("`{arn}` is in account {}, the stack in {account} (the certificate's): the secrets are encrypted with that account's Secrets Manager key, which no other account can use", &caps[2]));
            }
        }
        self.unique("secrets.administrators", admins, "administrator");
    }
}
