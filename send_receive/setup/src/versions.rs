//! The bucket keeps every upload: versioning on, and a lifecycle rule that expires a version
//! some days after a newer upload replaced it.
//!
//! `PutBucketLifecycleConfiguration` replaces the whole configuration, so `setup` keeps every
//! rule that is not its own and adds or corrects its own.

use aws_sdk_s3::types::{ExpirationStatus, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration};

/// The id of `setup`'s lifecycle rule.
pub const LIFECYCLE_RULE_ID: &str = "sos-expire-noncurrent-versions";

/// How many days a replaced version is kept by default: long enough to fetch any announced
/// upload of the last month, short enough that a key written every hour keeps about 720 versions.
pub const DEFAULT_NONCURRENT_DAYS: i32 = 30;

/// `setup`'s rule: every version of every key expires `days` after it stopped being current.
pub fn noncurrent_rule(days: i32) -> LifecycleRule {
    LifecycleRule::builder()
        .id(LIFECYCLE_RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(days).build())
        .build()
        .expect("status, the only required field, is set")
}

/// The rules to write so that the bucket has `setup`'s rule with `days`, or `None` when it has
/// it already. Other rules are kept as they are.
pub fn lifecycle_plan(existing: &[LifecycleRule], days: i32) -> Option<Vec<LifecycleRule>> {
    let ours = existing.iter().find(|r| r.id() == Some(LIFECYCLE_RULE_ID));
    let in_place = ours.is_some_and(|r| {
        r.status() == &ExpirationStatus::Enabled
            && r.noncurrent_version_expiration().and_then(|e| e.noncurrent_days()) == Some(days)
            && r.filter().is_none_or(|f| f.prefix().is_none_or(str::is_empty) && f.tag().is_none() && f.and().is_none())
    });
    if in_place {
        return None;
    }
    let mut rules: Vec<LifecycleRule> =
        existing.iter().filter(|r| r.id() != Some(LIFECYCLE_RULE_ID)).cloned().collect();
    rules.push(noncurrent_rule(days));
    Some(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other_rule() -> LifecycleRule {
        LifecycleRule::builder()
            .id("someone-elses")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
            .expiration(aws_sdk_s3::types::LifecycleExpiration::builder().days(1).build())
            .build()
            .expect("rule")
    }

    #[test]
    fn the_rule_is_added_beside_other_rules() {
        let plan = lifecycle_plan(&[other_rule()], 30).expect("a change");
        assert_eq!(plan, vec![other_rule(), noncurrent_rule(30)]);
        assert_eq!(lifecycle_plan(&[], 7), Some(vec![noncurrent_rule(7)]));
    }

    #[test]
    fn the_rule_in_place_is_left_alone_and_other_days_are_corrected() {
        assert_eq!(lifecycle_plan(&[other_rule(), noncurrent_rule(30)], 30), None);
        assert_eq!(
            lifecycle_plan(&[noncurrent_rule(30), other_rule()], 90),
            Some(vec![other_rule(), noncurrent_rule(90)])
        );
        let mut disabled = noncurrent_rule(30);
        disabled.status = ExpirationStatus::Disabled;
        assert_eq!(lifecycle_plan(&[disabled], 30), Some(vec![noncurrent_rule(30)]));
    }
}
