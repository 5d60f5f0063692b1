"""Auto Scaling: policies, partial updates, mixed instances policy defaults, lifecycle hooks, per-group policies and
scheduled actions, ALB request-count labels, group deletion, instance refresh.

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

import copy

from . import patch
from .expect import expect, expect_equal, expect_error, paginate


@patch
def autoscaling_policy_enabled_no_predictive():
    """Auto Scaling `DescribePolicies` on a target-tracking policy (F6).

    AWS: each policy has `Enabled` (true unless PutScalingPolicy sent Enabled=false) and only a
    predictive-scaling policy has a PredictiveScalingConfiguration. moto 5.2.5: no `Enabled`,
    and an empty PredictiveScalingConfiguration on every policy. Needed by: moodle-ha's scaling
    policy observe/drift check.
    """
    from moto.autoscaling.models import FakeScalingPolicy
    from moto.autoscaling.responses import AutoScalingResponse

    original_init = FakeScalingPolicy.__init__
    original_put = AutoScalingResponse.put_scaling_policy

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.enabled = True
        if not self.predictive_scaling_configuration:
            self.predictive_scaling_configuration = None

    def put_scaling_policy(self):
        result = original_put(self)
        enabled = self._get_bool_param("Enabled")
        if enabled is not None:
            group, name = self._get_param("AutoScalingGroupName"), self._get_param("PolicyName")
            for policy in self.autoscaling_backend.policies.values():
                if (policy.auto_scaling_group_name, policy.name) == (group, name):
                    policy.enabled = enabled
        return result

    FakeScalingPolicy.__init__ = __init__
    AutoScalingResponse.put_scaling_policy = put_scaling_policy


@patch
def autoscaling_update_keeps_mixed_instances_policy():
    """Auto Scaling `UpdateAutoScalingGroup` without MixedInstancesPolicy (e.g. only MaxSize) (F7).

    AWS: leaves every omitted setting unchanged, the group's MixedInstancesPolicy included (it
    is replaced only by a new MixedInstancesPolicy, LaunchTemplate or LaunchConfigurationName).
    moto 5.2.5: drops the MixedInstancesPolicy. Needed by: moodle-ha's ASG resize and drift
    repair, which send only the fields that changed.
    """
    from moto.autoscaling.models import FakeAutoScalingGroup

    original = FakeAutoScalingGroup.update

    def update(self, *args, **kwargs):
        replaced = kwargs.get("mixed_instances_policy") or kwargs.get("launch_template") or kwargs.get("launch_config_name")
        if not replaced and self.mixed_instances_policy:
            kept = copy.deepcopy(self.mixed_instances_policy)
            spec = kept["LaunchTemplate"]["LaunchTemplateSpecification"]
            if spec.get("LaunchTemplateId"):  # moto stores id and name; a request may name only one
                spec.pop("LaunchTemplateName", None)
            kwargs["mixed_instances_policy"] = kept
        return original(self, *args, **kwargs)

    FakeAutoScalingGroup.update = update


def _mixed_instances_policy_defaults(policy):
    """Fill InstancesDistribution with the defaults AWS answers (see the patch below)."""
    if not policy:
        return policy
    overrides = (policy.get("LaunchTemplate") or {}).get("Overrides") or []
    distribution = policy.setdefault("InstancesDistribution", {})
    with_requirements = any("InstanceRequirements" in o for o in overrides)
    distribution.setdefault("OnDemandAllocationStrategy", "lowest-price" if with_requirements else "prioritized")
    distribution.setdefault("OnDemandBaseCapacity", 0)
    distribution.setdefault("OnDemandPercentageAboveBaseCapacity", 100)
    distribution.setdefault("SpotAllocationStrategy", "lowest-price")
    if distribution["SpotAllocationStrategy"] == "lowest-price":
        distribution.setdefault("SpotInstancePools", 2)
    return policy


@patch
def autoscaling_mixed_instances_policy_defaults_and_partial_update():
    """Auto Scaling `CreateAutoScalingGroup` / `UpdateAutoScalingGroup` with a MixedInstancesPolicy.

    AWS: DescribeAutoScalingGroups answers the InstancesDistribution with every default filled
    in (OnDemandAllocationStrategy "prioritized" — "lowest-price" when the overrides use
    InstanceRequirements —, OnDemandBaseCapacity 0, OnDemandPercentageAboveBaseCapacity 100,
    SpotAllocationStrategy "lowest-price", SpotInstancePools 2 with lowest-price only). An update
    changes only what its MixedInstancesPolicy names ("Any parameters that you don't specify are
    not changed"; LaunchTemplate is "not required when updating the group"): a policy with only
    a new LaunchTemplateSpecification keeps the Overrides and the InstancesDistribution, and an
    InstancesDistribution with one field keeps the others. moto 5.2.5: fills the defaults only
    when InstancesDistribution is absent, and an update replaces the whole policy (no
    Overrides, no InstancesDistribution left). Needed by: moodle-ha's ASG observe/drift check
    and its launch template version roll-out (UpdateAutoScalingGroup with the new version).
    """
    from moto.autoscaling.models import FakeAutoScalingGroup

    original_init = FakeAutoScalingGroup.__init__
    original_update = FakeAutoScalingGroup.update

    def __init__(self, *args, **kwargs):
        _mixed_instances_policy_defaults(kwargs.get("mixed_instances_policy"))
        original_init(self, *args, **kwargs)

    def update(self, *args, **kwargs):
        sent = kwargs.get("mixed_instances_policy")
        if sent and self.mixed_instances_policy:
            merged = copy.deepcopy(self.mixed_instances_policy)
            spec = merged["LaunchTemplate"]["LaunchTemplateSpecification"]
            if spec.get("LaunchTemplateId"):  # moto stores id and name; a request names only one
                spec.pop("LaunchTemplateName", None)
            merged["LaunchTemplate"].update(sent.get("LaunchTemplate") or {})
            merged.setdefault("InstancesDistribution", {}).update(sent.get("InstancesDistribution") or {})
            kwargs["mixed_instances_policy"] = _mixed_instances_policy_defaults(merged)
        else:
            _mixed_instances_policy_defaults(sent)
        return original_update(self, *args, **kwargs)

    FakeAutoScalingGroup.__init__ = __init__
    FakeAutoScalingGroup.update = update


@patch
def autoscaling_update_capacity_rebalance():
    """Auto Scaling `UpdateAutoScalingGroup` with CapacityRebalance.

    AWS: turns capacity rebalancing on or off (DescribeAutoScalingGroups CapacityRebalance).
    moto 5.2.5: ignores the parameter. Needed by: moodle-ha's ASG drift repair.
    """
    from moto.autoscaling.responses import AutoScalingResponse

    original = AutoScalingResponse.update_auto_scaling_group

    def update_auto_scaling_group(self):
        result = original(self)
        rebalance = self._get_bool_param("CapacityRebalance")
        if rebalance is not None:
            self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")].capacity_rebalance = rebalance
        return result

    AutoScalingResponse.update_auto_scaling_group = update_auto_scaling_group


@patch
def autoscaling_lifecycle_hooks():
    """Auto Scaling lifecycle hooks: `CreateAutoScalingGroup` LifecycleHookSpecificationList, `PutLifecycleHook`.

    AWS: CreateAutoScalingGroup creates the hooks of LifecycleHookSpecificationList with the
    group; DescribeLifecycleHooks answers RoleARN, NotificationTargetARN and NotificationMetadata
    only when they were set, and GlobalTimeout = min(100 × HeartbeatTimeout, 172800). moto 5.2.5:
    ignores LifecycleHookSpecificationList (the group has no hooks), ignores the three optional
    fields of PutLifecycleHook and answers made-up ones ("arn:aws:sqs:us-east-1:123456789012:
    my-queue", "arn:aws:iam::1234567890:role/my-auto-scaling-role"), and GlobalTimeout 172800.
    Needed by: moodle-ha's ASG create (drain hook) and its hook observe/drift check.
    """
    from moto.autoscaling.models import LifecycleHook
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    original_init = LifecycleHook.__init__
    original_create = AutoScalingResponse.create_auto_scaling_group

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.role_arn = self.notification_target_arn = self.notification_metadata = None
        self.global_timeout = min(100 * self.heartbeat_timeout, 172800)

    fields = {
        "LifecycleTransition": "lifecycle_transition", "HeartbeatTimeout": "heartbeat_timeout",
        "DefaultResult": "default_result", "RoleARN": "role_arn",
        "NotificationTargetARN": "notification_target_arn", "NotificationMetadata": "notification_metadata",
    }

    def put_hook(backend, group, spec):
        # PutLifecycleHook on an existing hook changes only the fields it names.
        hook = backend.lifecycle_hooks.get(f"{group}_{spec.get('LifecycleHookName')}")
        if hook is None:
            hook = backend.create_lifecycle_hook(
                name=spec.get("LifecycleHookName"), as_name=group, transition=spec.get("LifecycleTransition"),
                timeout=spec.get("HeartbeatTimeout"), result=spec.get("DefaultResult"),
            )
        for field, attribute in fields.items():
            if spec.get(field) is not None:
                setattr(hook, attribute, spec[field])
        hook.global_timeout = min(100 * hook.heartbeat_timeout, 172800)

    def create_auto_scaling_group(self):
        result = original_create(self)
        for spec in self._get_params().get("LifecycleHookSpecificationList") or []:
            put_hook(self.autoscaling_backend, self._get_param("AutoScalingGroupName"), spec)
        return result

    def put_lifecycle_hook(self):
        put_hook(self.autoscaling_backend, self._get_param("AutoScalingGroupName"), self._get_params())
        return EmptyResult()

    LifecycleHook.__init__ = __init__
    AutoScalingResponse.create_auto_scaling_group = create_auto_scaling_group
    AutoScalingResponse.put_lifecycle_hook = put_lifecycle_hook


@patch
def autoscaling_lifecycle_actions():
    """Auto Scaling `CompleteLifecycleAction` and `RecordLifecycleActionHeartbeat`.

    AWS: both name a group, one of its hooks and an instance of the group with an action
    pending on that hook; CONTINUE or ABANDON ends the action, so a second completion (or a
    heartbeat after it) is refused with ValidationError "No active Lifecycle Action found with
    instance ID …"; an unknown group or hook is a ValidationError too. moto 5.2.5: neither call
    exists (an error for any request). Here every instance of the group has one pending action
    per launch hook until it is completed. Needed by: tests/node-lab (a web node completes the
    group's launch hook once it serves; a second completion must be refused).
    """
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    def action(self):
        backend = self.autoscaling_backend
        group_name = self._get_param("AutoScalingGroupName")
        hook_name = self._get_param("LifecycleHookName")
        instance_id = self._get_param("InstanceId")
        group = backend.autoscaling_groups.get(group_name)
        if group is None:
            raise ValidationError(f"Group {group_name} not found")
        hook = backend.lifecycle_hooks.get(f"{group_name}_{hook_name}")
        if hook is None:
            raise ValidationError(f"No Lifecycle Hook found with name {hook_name} for group {group_name}")
        completed = backend.__dict__.setdefault("_moodle_ha_completed_actions", set())
        key = (group_name, hook_name, instance_id)
        members = {s.instance.id for s in group.instance_states}
        if instance_id not in members or key in completed \
                or hook.lifecycle_transition != "autoscaling:EC2_INSTANCE_LAUNCHING":
            raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")
        return completed, key

    def complete_lifecycle_action(self):
        completed, key = action(self)
        if self._get_param("LifecycleActionResult") not in ("CONTINUE", "ABANDON"):
            raise ValidationError("LifecycleActionResult must be CONTINUE or ABANDON")
        completed.add(key)
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self):
        action(self)
        return EmptyResult()

    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat


@patch
def autoscaling_put_scaling_policy_arn():
    """Auto Scaling `PutScalingPolicy`: the answer names the policy as `PolicyARN`.

    AWS: PutScalingPolicyResult has `PolicyARN` (and `Alarms`). moto 5.2.5 answers `PolicyArn`,
    which no SDK reads, so the answer seems to lack the new policy's ARN. Needed by: moodle-ha's
    scaling policy create, which refuses an answer without the new resource's identifier.
    """
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    original_put = AutoScalingResponse.put_scaling_policy

    def put_scaling_policy(self):
        result = original_put(self)
        answer = getattr(result, "result", None)
        if isinstance(answer, dict) and "PolicyArn" in answer:
            answer = dict(answer)
            answer["PolicyARN"] = answer.pop("PolicyArn")
            return ActionResult(answer)
        return result

    AutoScalingResponse.put_scaling_policy = put_scaling_policy


@patch
def autoscaling_policies_and_scheduled_actions_per_group():
    """Auto Scaling scaling policies and scheduled actions: names are unique per group, not per region.

    AWS: two groups can each have a policy (or scheduled action) named "cpu"; DeletePolicy and
    DeleteScheduledAction (AutoScalingGroupName, name) delete only that group's; scheduled
    actions carry a ScheduledActionARN. moto 5.2.5: keys both by name alone, so a second group's
    PutScalingPolicy "cpu" replaces the first group's policy, DeletePolicy ignores
    AutoScalingGroupName (and deletes another group's policy of that name), and no
    ScheduledActionARN. Needed by: moodle-ha tests that run several stacks in one emulator
    (policy names are `<stack>-web-cpu`, but scheduled action names are not prefixed).
    """
    import uuid

    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    original_put_policy = AutoScalingBackend.put_scaling_policy
    original_put_action = AutoScalingBackend.put_scheduled_update_group_action

    def put_scaling_policy(self, name, *args, **kwargs):
        policy = original_put_policy(self, name, *args, **kwargs)
        del self.policies[name]
        self.policies[(policy.auto_scaling_group_name, name)] = policy
        return policy

    def policy_key(response):
        name = response._get_param("PolicyName")
        group = response._get_param("AutoScalingGroupName")
        if name.startswith("arn:"):  # PolicyName may be the policy's ARN
            group = name.split(":autoScalingGroupName/")[1].split(":policyName/")[0]
            name = name.split(":policyName/")[1]
        return group, name

    def delete_policy(self):
        self.autoscaling_backend.policies.pop(policy_key(self), None)
        return EmptyResult()

    def execute_policy(self):
        self.autoscaling_backend.policies[policy_key(self)].execute()
        return EmptyResult()

    def put_scheduled_update_group_action(self, name, *args, **kwargs):
        action = original_put_action(self, name, *args, **kwargs)
        del self.scheduled_actions[action.scheduled_action_name]
        key = (name, action.scheduled_action_name)
        old = self.scheduled_actions.get(key)
        action.scheduled_action_arn = getattr(old, "scheduled_action_arn", None) or (
            f"arn:aws:autoscaling:{self.region_name}:{self.account_id}:scheduledUpdateGroupAction:{uuid.uuid4()}"
            f":autoScalingGroupName/{name}:scheduledActionName/{action.scheduled_action_name}"
        )
        self.scheduled_actions[key] = action
        return action

    def delete_scheduled_action(self, auto_scaling_group_name, scheduled_action_name):
        if self.scheduled_actions.pop((auto_scaling_group_name, scheduled_action_name), None) is None:
            raise ValidationError("Scheduled action name not found")

    AutoScalingBackend.put_scaling_policy = put_scaling_policy
    AutoScalingResponse.delete_policy = delete_policy
    AutoScalingResponse.execute_policy = execute_policy
    AutoScalingBackend.put_scheduled_update_group_action = put_scheduled_update_group_action
    AutoScalingBackend.delete_scheduled_action = delete_scheduled_action


@patch
def autoscaling_alb_request_count_resource_label():
    """Auto Scaling `PutScalingPolicy` with PredefinedMetricType ALBRequestCountPerTarget.

    AWS: the ResourceLabel (`app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>`) is required
    and must name a target group attached to the group, behind that load balancer; otherwise
    ValidationError ("Target group not attached to the Auto Scaling group"). moto 5.2.5: accepts
    any label, or none. Needed by: moodle-ha's request-count policy, which must be put after
    the target group is attached (and its label built from the real ARNs).
    """
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend

    original = AutoScalingBackend.put_scaling_policy

    def put_scaling_policy(self, name, policy_type, *args, **kwargs):
        config = kwargs.get("target_tracking_config") or {}
        spec = config.get("PredefinedMetricSpecification") or {}
        if spec.get("PredefinedMetricType") == "ALBRequestCountPerTarget":
            label = spec.get("ResourceLabel")
            if not label:
                raise ValidationError("ResourceLabel must be specified for the predefined metric type ALBRequestCountPerTarget.")
            group = self.autoscaling_groups.get(kwargs.get("as_name"))
            labels = set()
            for tg_arn in group.target_group_arns if group else []:
                target_group = self.elbv2_backend.target_groups.get(tg_arn)
                for lb_arn in target_group.load_balancer_arns if target_group else []:
                    labels.add(lb_arn.split(":loadbalancer/", 1)[1] + "/" + tg_arn.split(":", 5)[5])
            if label not in labels:
                raise ValidationError("Target group not attached to the Auto Scaling group")
        return original(self, name, policy_type, *args, **kwargs)

    AutoScalingBackend.put_scaling_policy = put_scaling_policy


@patch
def autoscaling_delete_group():
    """Auto Scaling `DeleteAutoScalingGroup`.

    AWS: deletes the group's scaling policies, lifecycle hooks and scheduled actions with it;
    without ForceDelete, a group that still has instances answers ResourceInUse ("You cannot
    delete an AutoScalingGroup while there are instances or pending Spot instance request(s)
    still in the group."). moto 5.2.5: leaves the policies, hooks and scheduled actions behind
    (DescribePolicies of a re-created group of that name lists them) and deletes a group with
    instances without ForceDelete. Needed by: moodle-ha destroy and tests that re-create a stack.
    """
    from moto.autoscaling.exceptions import AutoscalingClientError
    from moto.autoscaling.models import AutoScalingBackend
    from moto.autoscaling.responses import AutoScalingResponse

    original_backend = AutoScalingBackend.delete_auto_scaling_group
    original_response = AutoScalingResponse.delete_auto_scaling_group

    def delete_auto_scaling_group(self, group_name):
        original_backend(self, group_name)
        for store, group_of in (
            (self.policies, lambda p: p.auto_scaling_group_name),
            (self.lifecycle_hooks, lambda h: h.auto_scaling_group_name),
            (self.scheduled_actions, lambda a: a.auto_scaling_group_name),
        ):
            for key in [k for k, v in store.items() if group_of(v) == group_name]:
                del store[key]
        getattr(self, "_instance_refreshes", {}).pop(group_name, None)

    def delete_response(self):
        group = self.autoscaling_backend.autoscaling_groups.get(self._get_param("AutoScalingGroupName"))
        if group is not None and group.instance_states and not self._get_bool_param("ForceDelete"):
            raise AutoscalingClientError(
                "ResourceInUse",
                "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.",
            )
        return original_response(self)

    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group
    AutoScalingResponse.delete_auto_scaling_group = delete_response


@patch
def autoscaling_instance_refresh():
    """Auto Scaling `StartInstanceRefresh` / `DescribeInstanceRefreshes` / `CancelInstanceRefresh`.

    AWS: StartInstanceRefresh answers an InstanceRefreshId; DescribeInstanceRefreshes (newest
    first) answers each refresh with its Status (Pending, InProgress, … Successful),
    PercentageComplete, InstancesToUpdate, StartTime/EndTime, Strategy and the Preferences with
    AWS's defaults filled in (MinHealthyPercentage 90, SkipMatching false, AutoRollback false,
    ScaleInProtectedInstances and StandbyInstances "Ignore"); CancelInstanceRefresh without an
    active refresh answers ActiveInstanceRefreshNotFound. moto 5.2.5: HTTP 500, actions not
    implemented. Here a refresh is Successful (100 %, nothing left to update) as soon as it
    starts, as moto replaces nothing. Needed by: moodle-ha's launch template roll-out.
    """
    import datetime
    import uuid

    from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    def refreshes(response):
        backend = response.autoscaling_backend
        name = response._get_param("AutoScalingGroupName")
        if name not in backend.autoscaling_groups:
            raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
        return backend.__dict__.setdefault("_instance_refreshes", {}).setdefault(name, [])

    def start_instance_refresh(self):
        started = refreshes(self)
        params = self._get_params()
        preferences = dict(params.get("Preferences") or {})
        for key, value in (("MinHealthyPercentage", 90), ("SkipMatching", False), ("AutoRollback", False),
                           ("ScaleInProtectedInstances", "Ignore"), ("StandbyInstances", "Ignore")):
            preferences.setdefault(key, value)
        now = datetime.datetime.now(datetime.timezone.utc)
        refresh = {
            "InstanceRefreshId": str(uuid.uuid4()),
            "AutoScalingGroupName": self._get_param("AutoScalingGroupName"),
            "Status": "Successful",
            "StartTime": now,
            "EndTime": now,
            "PercentageComplete": 100,
            "InstancesToUpdate": 0,
            "Preferences": preferences,
            "Strategy": params.get("Strategy") or "Rolling",
        }
        if params.get("DesiredConfiguration"):
            refresh["DesiredConfiguration"] = params["DesiredConfiguration"]
        started.insert(0, refresh)
        return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})

    def describe_instance_refreshes(self):
        ids = self._get_param("InstanceRefreshIds") or []
        found = [r for r in refreshes(self) if not ids or r["InstanceRefreshId"] in ids]
        start = int(self._get_param("NextToken") or 0)
        limit = self._get_int_param("MaxRecords") or 50
        result = {"InstanceRefreshes": found[start:start + limit]}
        if start + limit < len(found):
            result["NextToken"] = str(start + limit)
        return ActionResult(result)

    def cancel_instance_refresh(self):
        active = [r for r in refreshes(self) if r["Status"] in ("Pending", "InProgress")]
        if not active:
            raise AutoscalingClientError("ActiveInstanceRefreshNotFound", "No in progress or pending Instance Refresh found for Auto Scaling group " + self._get_param("AutoScalingGroupName"))
        active[0]["Status"] = "Cancelled"
        return ActionResult({"InstanceRefreshId": active[0]["InstanceRefreshId"]})

    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh


# Checks --------------------------------------------------------------------------------------


def check_update_keeps_omitted_fields(ctx):
    """F7 and F6 on a group of the template ec2.check_launch_template_own_tags made (deleted here)."""
    ec2, asg = ctx.ec2, ctx.autoscaling
    template_id = ctx.asg_template
    group = ctx.name("asg")
    policy = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "$Latest"},
            "Overrides": [{"InstanceType": "t3.small"}, {"InstanceType": "t3a.small"}],
        },
        "InstancesDistribution": {"OnDemandBaseCapacity": 1, "OnDemandPercentageAboveBaseCapacity": 50},
    }
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=1, MaxSize=3, DesiredCapacity=1, MixedInstancesPolicy=policy,
        VPCZoneIdentifier=",".join(ctx.subnets), HealthCheckType="ELB", HealthCheckGracePeriod=300,
        Tags=[{"Key": "moodle-ha:stack", "Value": ctx.run, "PropagateAtLaunch": True}],
    )
    fields = ("MixedInstancesPolicy", "MinSize", "DesiredCapacity", "HealthCheckType", "HealthCheckGracePeriod", "VPCZoneIdentifier", "Tags")

    def describe():
        return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]

    before = describe()
    expect("MixedInstancesPolicy" in before, "CreateAutoScalingGroup MixedInstancesPolicy missing")
    asg.update_auto_scaling_group(AutoScalingGroupName=group, MaxSize=5)
    after = describe()
    expect_equal(after["MaxSize"], 5, "UpdateAutoScalingGroup MaxSize")
    for field in fields:
        expect_equal(after.get(field), before.get(field), f"UpdateAutoScalingGroup with only MaxSize keeps {field} (F7)")

    put = asg.put_scaling_policy(
        AutoScalingGroupName=group, PolicyName="cpu", PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 60.0},
    )
    expect(str(put.get("PolicyARN", "")).startswith("arn:aws:autoscaling:"), "PutScalingPolicy answers PolicyARN:", put)
    policy = asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"][0]
    expect_equal(policy.get("Enabled"), True, "DescribePolicies Enabled (F6)")
    expect("PredictiveScalingConfiguration" not in policy, "DescribePolicies: no PredictiveScalingConfiguration on a target-tracking policy (F6):", policy.get("PredictiveScalingConfiguration"))
    expect_equal(policy["TargetTrackingConfiguration"]["TargetValue"], 60.0, "DescribePolicies TargetValue")

    asg.delete_policy(AutoScalingGroupName=group, PolicyName="cpu")
    asg.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)
    ec2.delete_launch_template(LaunchTemplateId=template_id)

def check_web_autoscaling(ctx):
    asg = ctx.autoscaling
    stack = ctx.name("web")
    group, other = ctx.name("web-asg"), ctx.name("web-asg-2")
    types = ["t3.medium", "t3a.medium", "m6i.large", "m6a.large", "m7i.large"]
    policy = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": ctx.web_template, "Version": "2"},
            "Overrides": [{"InstanceType": t} for t in types],
        },
        "InstancesDistribution": {"OnDemandBaseCapacity": 1, "OnDemandPercentageAboveBaseCapacity": 0, "SpotAllocationStrategy": "price-capacity-optimized"},
    }
    tags = [{"Key": "moodle-ha:stack", "Value": stack, "PropagateAtLaunch": True}, {"Key": "Name", "Value": stack, "PropagateAtLaunch": False}]
    hook = {"LifecycleHookName": "drain", "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING", "HeartbeatTimeout": 150, "DefaultResult": "CONTINUE"}
    create = dict(
        MixedInstancesPolicy=policy, MinSize=2, MaxSize=8, DesiredCapacity=4, VPCZoneIdentifier=",".join(ctx.private_subnets),
        TargetGroupARNs=[ctx.web_tg], HealthCheckType="ELB", HealthCheckGracePeriod=300, CapacityRebalance=True, Tags=tags,
        LifecycleHookSpecificationList=[hook],
    )
    asg.create_auto_scaling_group(AutoScalingGroupName=group, **create)
    asg.create_auto_scaling_group(AutoScalingGroupName=other, **dict(create, MinSize=0, DesiredCapacity=1, TargetGroupARNs=[], LifecycleHookSpecificationList=[]))
    asg.create_auto_scaling_group(
        AutoScalingGroupName=ctx.name("not-web"), MinSize=0, MaxSize=1, VPCZoneIdentifier=ctx.private_subnets[0],
        LaunchTemplate={"LaunchTemplateId": ctx.web_template, "Version": "1"}, Tags=[{"Key": "moodle-ha:stack", "Value": "another", "PropagateAtLaunch": True}],
    )
    found, pages = paginate(asg, "describe_auto_scaling_groups", "AutoScalingGroups", 1, Filters=[{"Name": "tag:moodle-ha:stack", "Values": [stack]}])
    expect_equal(sorted(g["AutoScalingGroupName"] for g in found), sorted([group, other]), "DescribeAutoScalingGroups tag:moodle-ha:stack filter")
    expect(pages >= 2, "DescribeAutoScalingGroups (MaxRecords=1): 2 groups must take 2 pages:", pages)

    def describe(name=group):
        return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]

    wanted_policy = copy.deepcopy(policy)
    wanted_policy["LaunchTemplate"]["LaunchTemplateSpecification"]["LaunchTemplateName"] = ctx.name("web-lt")
    wanted_policy["InstancesDistribution"]["OnDemandAllocationStrategy"] = "prioritized"
    g = describe()
    expect_equal(g.get("MixedInstancesPolicy"), wanted_policy, "DescribeAutoScalingGroups MixedInstancesPolicy (AWS fills OnDemandAllocationStrategy)")
    for field in ("MinSize", "MaxSize", "DesiredCapacity", "VPCZoneIdentifier", "TargetGroupARNs", "HealthCheckType", "HealthCheckGracePeriod", "CapacityRebalance"):
        expect_equal(g.get(field), create[field], f"DescribeAutoScalingGroups {field}")
    expect_equal([{k: t[k] for k in ("Key", "Value", "PropagateAtLaunch")} for t in g["Tags"]], tags, "DescribeAutoScalingGroups Tags")
    hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
    expect_equal(hooks, [dict(hook, AutoScalingGroupName=group, GlobalTimeout=15000)], "CreateAutoScalingGroup LifecycleHookSpecificationList, then DescribeLifecycleHooks")
    expect_equal(asg.describe_lifecycle_hooks(AutoScalingGroupName=other)["LifecycleHooks"], [], "DescribeLifecycleHooks of a group without hooks")

    # UpdateAutoScalingGroup: one field at a time; nothing else moves (F7 and the rest).
    compared = ("MixedInstancesPolicy", "MinSize", "MaxSize", "DesiredCapacity", "VPCZoneIdentifier", "TargetGroupARNs",
                "HealthCheckType", "HealthCheckGracePeriod", "CapacityRebalance", "Tags")
    new_policy = {"LaunchTemplate": {"LaunchTemplateSpecification": {"LaunchTemplateId": ctx.web_template, "Version": "3"}}}
    changes = [
        ({"MaxSize": 9}, {"MaxSize": 9}), ({"MinSize": 3}, {"MinSize": 3}), ({"DesiredCapacity": 5}, {"DesiredCapacity": 5}),
        ({"HealthCheckGracePeriod": 200}, {"HealthCheckGracePeriod": 200}), ({"HealthCheckType": "EC2"}, {"HealthCheckType": "EC2"}),
        ({"CapacityRebalance": False}, {"CapacityRebalance": False}),
        ({"VPCZoneIdentifier": ",".join(ctx.subnets)}, {"VPCZoneIdentifier": ",".join(ctx.subnets)}),
    ]
    version3 = copy.deepcopy(wanted_policy)
    version3["LaunchTemplate"]["LaunchTemplateSpecification"]["Version"] = "3"
    changes.append(({"MixedInstancesPolicy": new_policy}, {"MixedInstancesPolicy": version3}))
    fewer = copy.deepcopy(version3)
    fewer["LaunchTemplate"]["Overrides"] = fewer["LaunchTemplate"]["Overrides"][:3]
    changes.append(({"MixedInstancesPolicy": {"LaunchTemplate": {"Overrides": fewer["LaunchTemplate"]["Overrides"]}}}, {"MixedInstancesPolicy": fewer}))
    spot = copy.deepcopy(fewer)
    spot["InstancesDistribution"]["OnDemandBaseCapacity"] = 2
    changes.append(({"MixedInstancesPolicy": {"InstancesDistribution": {"OnDemandBaseCapacity": 2}}}, {"MixedInstancesPolicy": spot}))
    for sent, wanted in changes:
        before = describe()
        asg.update_auto_scaling_group(AutoScalingGroupName=group, **sent)
        after = describe()
        expect_equal({f: after.get(f) for f in compared}, dict({f: before.get(f) for f in compared}, **wanted), f"UpdateAutoScalingGroup with only {sorted(sent)}")
    asg.update_auto_scaling_group(
        AutoScalingGroupName=group, **{k: create[k] for k in ("MinSize", "MaxSize", "DesiredCapacity", "VPCZoneIdentifier", "HealthCheckType", "HealthCheckGracePeriod", "CapacityRebalance")},
        MixedInstancesPolicy=policy,
    )
    expect_equal(describe().get("MixedInstancesPolicy"), wanted_policy, "UpdateAutoScalingGroup with the whole MixedInstancesPolicy")

    # Target groups and lifecycle hooks.
    asg.detach_load_balancer_target_groups(AutoScalingGroupName=group, TargetGroupARNs=[ctx.web_tg])
    expect_equal(describe()["TargetGroupARNs"], [], "DetachLoadBalancerTargetGroups")
    label = ctx.web_lb.split(":loadbalancer/")[1] + "/" + ctx.web_tg.split(":")[-1]
    requests = {"PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}, "TargetValue": 500.0}
    expect_error("ValidationError", asg.put_scaling_policy, AutoScalingGroupName=group, PolicyName=f"{stack}-web-requests",
                 PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=requests)
    asg.attach_load_balancer_target_groups(AutoScalingGroupName=group, TargetGroupARNs=[ctx.web_tg])
    expect_equal(describe()["TargetGroupARNs"], [ctx.web_tg], "AttachLoadBalancerTargetGroups")
    asg.put_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName="launch", LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING", HeartbeatTimeout=300, DefaultResult="ABANDON")
    asg.put_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName="drain", HeartbeatTimeout=120)
    hooks = {h["LifecycleHookName"]: h for h in asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]}
    expect_equal(hooks.get("drain"), dict(hook, AutoScalingGroupName=group, HeartbeatTimeout=120, GlobalTimeout=12000), "PutLifecycleHook on an existing hook changes only HeartbeatTimeout")
    expect_equal(set(hooks), {"drain", "launch"}, "PutLifecycleHook then DescribeLifecycleHooks")
    # A launch hook's pending action: a heartbeat, one completion, then none is active.
    members = [i["InstanceId"] for i in describe().get("Instances", [])]
    expect(members, "the group has instances to complete a lifecycle action for")
    action = dict(AutoScalingGroupName=group, LifecycleHookName="launch", InstanceId=members[0])
    asg.record_lifecycle_action_heartbeat(**action)
    asg.complete_lifecycle_action(LifecycleActionResult="CONTINUE", **action)
    expect_error("ValidationError", asg.complete_lifecycle_action, LifecycleActionResult="CONTINUE", **action)
    expect_error("ValidationError", asg.record_lifecycle_action_heartbeat, **action)
    expect_error("ValidationError", asg.complete_lifecycle_action, LifecycleActionResult="CONTINUE",
                 **dict(action, LifecycleHookName="drain", InstanceId=members[-1]))
    asg.delete_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName="launch")
    expect_equal([h["LifecycleHookName"] for h in asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]], ["drain"], "DeleteLifecycleHook")

    # Scaling policies (F6; names per group; the request-count policy's label).
    cpu = {"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 60.0, "DisableScaleIn": False}
    for name in (group, other):
        asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName=f"{stack}-web-cpu", PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=cpu)
    answer = asg.put_scaling_policy(AutoScalingGroupName=group, PolicyName=f"{stack}-web-requests", PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=requests)
    created_arn = answer.get("PolicyARN")
    for bad in ("app/other/0123456789abcdef/targetgroup/other/0123456789abcdef", None):
        spec = {"PredefinedMetricType": "ALBRequestCountPerTarget", **({"ResourceLabel": bad} if bad else {})}
        expect_error("ValidationError", asg.put_scaling_policy, AutoScalingGroupName=group, PolicyName=f"{stack}-bad", PolicyType="TargetTrackingScaling",
                     TargetTrackingConfiguration={"PredefinedMetricSpecification": spec, "TargetValue": 1.0})
    policies = {p["PolicyName"]: p for p in asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]}
    expect_equal(sorted(policies), [f"{stack}-web-cpu", f"{stack}-web-requests"], "DescribePolicies(AutoScalingGroupName)")
    expect_equal(created_arn, policies[f"{stack}-web-requests"].get("PolicyARN"), "PutScalingPolicy answer PolicyARN (DescribePolicies' PolicyARN)")
    for name, config in ((f"{stack}-web-cpu", cpu), (f"{stack}-web-requests", requests)):
        p = policies[name]
        expect_equal((p["PolicyType"], p["TargetTrackingConfiguration"], p.get("Enabled")), ("TargetTrackingScaling", config, True), f"DescribePolicies {name}")
        expect("PredictiveScalingConfiguration" not in p, f"DescribePolicies {name}: no PredictiveScalingConfiguration (F6)")
    expect_equal(len(asg.describe_policies(AutoScalingGroupName=other)["ScalingPolicies"]), 1, "a policy of the same name in another group stays that group's")
    changed = dict(cpu, TargetValue=70.0, DisableScaleIn=True)
    asg.put_scaling_policy(AutoScalingGroupName=group, PolicyName=f"{stack}-web-cpu", PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=changed)
    p = asg.describe_policies(AutoScalingGroupName=group, PolicyNames=[f"{stack}-web-cpu"])["ScalingPolicies"]
    expect_equal([x["TargetTrackingConfiguration"] for x in p], [changed], "PutScalingPolicy again replaces the configuration")
    asg.delete_policy(AutoScalingGroupName=group, PolicyName=f"{stack}-web-requests")
    expect_equal([x["PolicyName"] for x in asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]], [f"{stack}-web-cpu"], "DeletePolicy")
    expect_equal([x["PolicyName"] for x in asg.describe_policies(AutoScalingGroupName=other)["ScalingPolicies"]], [f"{stack}-web-cpu"], "DeletePolicy leaves other groups' policies")

    # Scheduled actions (names per group too).
    night = dict(ScheduledActionName="night", Recurrence="0 22 * * *", MinSize=1, MaxSize=4, DesiredCapacity=2, TimeZone="Europe/Dublin")
    for name in (group, other):
        asg.put_scheduled_update_group_action(AutoScalingGroupName=name, **night)
    actions = asg.describe_scheduled_actions(AutoScalingGroupName=group)["ScheduledUpdateGroupActions"]
    expect_equal([{k: a.get(k) for k in night} for a in actions], [night], "DescribeScheduledActions(AutoScalingGroupName)")
    expect(actions[0].get("ScheduledActionARN", "").startswith("arn:aws:autoscaling:"), "DescribeScheduledActions ScheduledActionARN:", actions[0].get("ScheduledActionARN"))
    asg.delete_scheduled_action(AutoScalingGroupName=group, ScheduledActionName="night")
    expect_equal(asg.describe_scheduled_actions(AutoScalingGroupName=group)["ScheduledUpdateGroupActions"], [], "DeleteScheduledAction")
    expect_equal(len(asg.describe_scheduled_actions(AutoScalingGroupName=other)["ScheduledUpdateGroupActions"]), 1, "DeleteScheduledAction leaves other groups' actions")

    # Instance refresh.
    preferences = {"MinHealthyPercentage": 90, "InstanceWarmup": 300, "SkipMatching": True}
    refresh = asg.start_instance_refresh(AutoScalingGroupName=group, Strategy="Rolling", Preferences=preferences)["InstanceRefreshId"]
    refreshes = asg.describe_instance_refreshes(AutoScalingGroupName=group)["InstanceRefreshes"]
    expect_equal([(r["InstanceRefreshId"], r["Status"], r["PercentageComplete"]) for r in refreshes], [(refresh, "Successful", 100)], "DescribeInstanceRefreshes")
    expect_equal({k: refreshes[0]["Preferences"].get(k) for k in preferences}, preferences, "DescribeInstanceRefreshes Preferences")
    expect_error("ActiveInstanceRefreshNotFound", asg.cancel_instance_refresh, AutoScalingGroupName=group)

    # Deletion.
    expect_error("ResourceInUse", asg.delete_auto_scaling_group, AutoScalingGroupName=other)
    for name in (group, other, ctx.name("not-web")):
        asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    expect_equal(asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group, other])["AutoScalingGroups"], [], "DeleteAutoScalingGroup ForceDelete: the group is gone")
    expect_equal(asg.describe_policies(AutoScalingGroupName=other)["ScalingPolicies"], [], "DeleteAutoScalingGroup deletes the group's policies")
    expect_equal(asg.describe_scheduled_actions(AutoScalingGroupName=other)["ScheduledUpdateGroupActions"], [], "DeleteAutoScalingGroup deletes the group's scheduled actions")
    expect_equal(asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"], [], "DeleteAutoScalingGroup deletes the group's lifecycle hooks")

    # The web tier's ELB and launch template go last.
    ctx.ec2.delete_launch_template(LaunchTemplateId=ctx.web_template)
    expect_equal(ctx.ec2.describe_launch_templates(Filters=[{"Name": "tag:moodle-ha:stack", "Values": [ctx.run]}])["LaunchTemplates"], [], "DeleteLaunchTemplate")
    for listener in ctx.web_listeners:
        ctx.elbv2.delete_listener(ListenerArn=listener)
    expect_equal(ctx.elbv2.describe_listeners(LoadBalancerArn=ctx.web_lb)["Listeners"], [], "DeleteListener")
    target_group = ctx.elbv2.describe_target_groups(TargetGroupArns=[ctx.web_tg])["TargetGroups"][0]
    expect_equal(target_group["LoadBalancerArns"], [], "DeleteListener: the target group is behind no load balancer any more")
    ctx.elbv2.delete_load_balancer(LoadBalancerArn=ctx.web_lb)
    ctx.elbv2.delete_target_group(TargetGroupArn=ctx.web_tg)
    expect_error("LoadBalancerNotFound", ctx.elbv2.describe_load_balancers, LoadBalancerArns=[ctx.web_lb])
