"""ELBv2: default attributes, pagination, listener actions and SSL policy, target groups' load balancers,
idempotent creates; issue 20's ALB attributes (desync mitigation, deletion protection, access logs).

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

from . import patch
from .acm import EXAMPLE_CERTIFICATE_ARN
from .expect import expect, expect_equal, expect_error, paginate, twice


@patch
def elbv2_default_attributes():
    """ELBv2 `DescribeLoadBalancerAttributes` / `DescribeTargetGroupAttributes` / `ModifyTargetGroupAttributes`.

    AWS: an Application Load Balancer has idle_timeout.timeout_seconds "60",
    routing.http2.enabled "true", access_logs.s3.enabled "false",
    routing.http.drop_invalid_header_fields.enabled "false" and load_balancing.cross_zone.enabled
    "true" (always, for an ALB) from the start; an HTTP/HTTPS target group has
    stickiness.lb_cookie.duration_seconds "86400" next to stickiness.type "lb_cookie"; and
    ModifyTargetGroupAttributes answers every attribute of the group, not only the modified
    ones. moto 5.2.5: no idle timeout, HTTP/2 or access log flag, cross-zone "false", no cookie
    duration, and ModifyTargetGroupAttributes answers only what was sent. Needed by: moodle-ha's
    ALB and target group observe/drift check (a default must read as the default, not as
    missing) and attribute repair.
    """
    from moto.core.responses import ActionResult
    from moto.elbv2.models import FakeLoadBalancer, FakeTargetGroup
    from moto.elbv2.responses import ELBV2Response

    original_lb = FakeLoadBalancer.__init__
    original_tg = FakeTargetGroup.__init__
    original_modify = ELBV2Response.modify_target_group_attributes

    def lb_init(self, *args, **kwargs):
        original_lb(self, *args, **kwargs)
        if self.type == "application":
            self.attrs.update({
                "access_logs.s3.enabled": "false",
                "idle_timeout.timeout_seconds": "60",
                "routing.http2.enabled": "true",
                "routing.http.drop_invalid_header_fields.enabled": "false",
                "load_balancing.cross_zone.enabled": "true",
            })

    def tg_init(self, *args, **kwargs):
        original_tg(self, *args, **kwargs)
        if self.attributes.get("stickiness.type") == "lb_cookie":
            self.attributes["stickiness.lb_cookie.duration_seconds"] = "86400"

    def modify_target_group_attributes(self):
        original_modify(self)
        group = self.elbv2_backend.target_groups[self._get_param("TargetGroupArn")]
        return ActionResult({"Attributes": group.attributes})

    FakeLoadBalancer.__init__ = lb_init
    FakeTargetGroup.__init__ = tg_init
    ELBV2Response.modify_target_group_attributes = modify_target_group_attributes


@patch
def elbv2_describe_pagination():
    """ELBv2 `DescribeTargetGroups` / `DescribeListeners` with PageSize (and Marker).

    AWS: answers at most PageSize items (default 400) and a NextMarker for the next page.
    moto 5.2.5: ignores PageSize and Marker and answers everything in one page (only
    DescribeLoadBalancers pages), so a client's paging is never exercised. Needed by: moodle-ha
    observe, which lists all target groups of the region and all listeners of a load balancer.
    """
    from moto.elbv2.responses import ELBV2Response

    def paginated(method, key):
        original = getattr(ELBV2Response, method)

        def describe(self):
            result = original(self)
            items = result.result[key]
            marker = self._get_param("Marker")
            arns = [item.arn for item in items]
            start = arns.index(marker) + 1 if marker in arns else 0
            size = self._get_int_param("PageSize", 400)
            result.result[key] = items[start:start + size]
            if start + size < len(items):
                result.result["NextMarker"] = arns[start + size - 1]
            return result

        setattr(ELBV2Response, method, describe)

    paginated("describe_target_groups", "TargetGroups")
    paginated("describe_listeners", "Listeners")


@patch
def elbv2_listener_actions_and_ssl_policy():
    """ELBv2 `CreateListener` / `ModifyListener` / `DescribeListeners`: DefaultActions and SslPolicy.

    AWS: a redirect action answers its RedirectConfig with every component, the ones not sent
    filled with the keywords that keep them: Protocol "#{protocol}", Port "#{port}", Host
    "#{host}", Path "/#{path}", Query "#{query}" (an HTTP→HTTPS redirect sent as {Protocol HTTPS,
    Port "443", StatusCode HTTP_301} comes back with Host "#{host}", Path "/#{path}", Query
    "#{query}"); a forward action sent with TargetGroupArn alone also answers ForwardConfig
    {TargetGroups [{TargetGroupArn, Weight 1}], TargetGroupStickinessConfig {Enabled false}};
    an HTTP listener has no SslPolicy. moto 5.2.5: answers the RedirectConfig as sent, no
    ForwardConfig, and SslPolicy "ELBSecurityPolicy-2016-08" on HTTP listeners. Needed by:
    moodle-ha's listener observe/drift check, which must compare what AWS answers.
    """
    from moto.elbv2.models import FakeAction, FakeListener

    original_action = FakeAction.__init__
    original_listener = FakeListener.__init__
    redirect_defaults = {"Protocol": "#{protocol}", "Port": "#{port}", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}"}

    def action_init(self, data):
        if data.get("Type") == "redirect" and isinstance(data.get("RedirectConfig"), dict):
            data["RedirectConfig"] = {**redirect_defaults, **data["RedirectConfig"]}
        if data.get("Type") == "forward" and data.get("TargetGroupArn") and not data.get("ForwardConfig"):
            data["ForwardConfig"] = {"TargetGroups": [{"TargetGroupArn": data["TargetGroupArn"], "Weight": 1}]}
        original_action(self, data)

    def listener_init(self, load_balancer_arn, arn, protocol, port, ssl_policy, *args, **kwargs):
        if (protocol or "").upper() not in ("HTTPS", "TLS"):
            ssl_policy = None
        original_listener(self, load_balancer_arn, arn, protocol, port, ssl_policy, *args, **kwargs)

    FakeAction.__init__ = action_init
    FakeListener.__init__ = listener_init


@patch
def elbv2_target_group_load_balancer_arns():
    """ELBv2 `DescribeTargetGroups` LoadBalancerArns after ModifyListener / DeleteListener / DeleteLoadBalancer.

    AWS: LoadBalancerArns lists, once each, the load balancers whose listeners (or rules)
    forward to the target group now. moto 5.2.5: appends the load balancer at each
    CreateListener / CreateRule and never removes it: it stays after the listener or the load
    balancer is deleted, appears twice after a second listener, and a ModifyListener that
    forwards to another group does not show there. Needed by: moodle-ha observe (which load
    balancer a target group is behind; the request-count policy's ResourceLabel) and destroy.
    """
    from moto.elbv2.models import FakeTargetGroup, elbv2_backends

    def load_balancer_arns(self):
        backend = elbv2_backends[self.account_id][self.region_name]
        found = []
        for balancer in backend.load_balancers.values():
            for listener in balancer.listeners.values():
                actions = [a for rule in listener.rules.values() for a in rule.actions]
                if any(self.arn in backend._get_target_group_arns_from(action_data=a.data) for a in actions if a.type == "forward"):
                    found.append(balancer.arn)
                    break
        return found

    FakeTargetGroup.load_balancer_arns = property(load_balancer_arns, lambda self, value: None)


@patch
def elbv2_create_idempotent():
    """ELBv2 `CreateLoadBalancer` / `CreateTargetGroup` with the name of one that exists, and
    `CreateListener` on a port of the load balancer that has a listener.

    AWS: all three are idempotent: a create with the same settings as the existing load balancer
    (target group, listener on that port) answers it and creates nothing; other settings answer
    DuplicateLoadBalancerName (DuplicateTargetGroupName, DuplicateListener). moto 5.2.5: a second
    CreateLoadBalancer makes a second load balancer of the same name, a second CreateListener a
    second listener on the same port (its port check looks among listener ARNs), and a second
    CreateTargetGroup answers DuplicateTargetGroupName, so an SDK retry whose first answer was
    lost duplicates or fails. Here "the same settings" means the same request parameters as the
    create that made it (tags included). Needed by: tests/it/resilience.rs
    (apply_converges_when_answers_are_lost).
    """
    from moto.core.responses import ActionResult
    from moto.elbv2.exceptions import DuplicateListenerError, DuplicateLoadBalancerName, DuplicateTargetGroupName
    from moto.elbv2.responses import ELBV2Response

    def idempotent(self, original, key, existing, answer_key, duplicate):
        requests = self.elbv2_backend.__dict__.setdefault("_create_requests", {})
        request = sorted((k, v) for k, v in self.querystring.items() if k not in ("Action", "Version"))
        found = existing(self.elbv2_backend)
        if found:
            if requests.get(key) != request:
                raise duplicate()
            return ActionResult({answer_key: found[:1]})
        result = original(self)
        requests[key] = request
        return result

    def listeners_on_port(backend, arn, port):
        balancer = backend.load_balancers.get(arn)
        return [l for l in (balancer.listeners.values() if balancer else []) if str(l.port) == str(port)]

    original_lb = ELBV2Response.create_load_balancer
    original_tg = ELBV2Response.create_target_group
    original_listener = ELBV2Response.create_listener

    def create_load_balancer(self):
        name = self._get_param("Name")
        return idempotent(
            self, original_lb, ("lb", name),
            lambda b: [lb for lb in b.load_balancers.values() if lb.name == name],
            "LoadBalancers", DuplicateLoadBalancerName,
        )

    def create_target_group(self):
        name = self._get_param("Name")
        return idempotent(
            self, original_tg, ("tg", name),
            lambda b: [tg for tg in b.target_groups.values() if tg.name == name],
            "TargetGroups", DuplicateTargetGroupName,
        )

    def create_listener(self):
        arn, port = self._get_param("LoadBalancerArn"), self._get_param("Port")
        return idempotent(
            self, original_listener, ("listener", arn, str(port)),
            lambda b: listeners_on_port(b, arn, port),
            "Listeners", DuplicateListenerError,
        )

    ELBV2Response.create_load_balancer = create_load_balancer
    ELBV2Response.create_target_group = create_target_group
    ELBV2Response.create_listener = create_listener


# IAM -------------------------------------------------------------------------------------------


@patch
def elbv2_desync_mitigation_and_deletion_protection():
    """ELBv2: an ALB's `routing.http.desync_mitigation_mode`, and `DeleteLoadBalancer` under deletion protection.

    AWS: an Application Load Balancer has routing.http.desync_mitigation_mode "defensive" from
    the start (ModifyLoadBalancerAttributes takes monitor, defensive or strictest, anything else
    is a ValidationError), and DeleteLoadBalancer on a load balancer with
    deletion_protection.enabled "true" answers OperationNotPermitted and deletes nothing.
    moto 5.2.5: no desync attribute until one is set, any value accepted, and the protected load
    balancer deleted. Needed by: issue 20's elbv2_desync_mitigation_mode and
    elbv2_deletion_protection controls (a default must read as AWS's default; destroy must
    lift the protection first, as on AWS).
    """
    from moto.elbv2.exceptions import ELBClientError, ValidationError
    from moto.elbv2.models import ELBv2Backend, FakeLoadBalancer

    original_init = FakeLoadBalancer.__init__
    original_modify = ELBv2Backend.modify_load_balancer_attributes
    original_delete = ELBv2Backend.delete_load_balancer

    def lb_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if self.type == "application":
            self.attrs.setdefault("routing.http.desync_mitigation_mode", "defensive")

    def modify_load_balancer_attributes(self, arn, attrs):
        mode = attrs.get("routing.http.desync_mitigation_mode")
        if mode is not None and mode not in ("monitor", "defensive", "strictest"):
            raise ValidationError(f"'{mode}' is not a valid value for routing.http.desync_mitigation_mode: monitor, defensive, strictest")
        return original_modify(self, arn, attrs)

    def delete_load_balancer(self, arn):
        balancer = self.load_balancers.get(arn)
        if balancer is not None and balancer.attrs.get("deletion_protection.enabled") == "true":
            error = ELBClientError(f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled")
            error.code = "OperationNotPermitted"
            raise error
        return original_delete(self, arn)

    FakeLoadBalancer.__init__ = lb_init
    ELBv2Backend.modify_load_balancer_attributes = modify_load_balancer_attributes
    ELBv2Backend.delete_load_balancer = delete_load_balancer


# Checks --------------------------------------------------------------------------------------


def check_elbv2(ctx):
    elb = ctx.elbv2
    tags = [{"Key": "moodle-ha:stack", "Value": ctx.run}]
    lbs = [
        elb.create_load_balancer(
            Name=ctx.name(f"lb{i}"), Subnets=ctx.subnets, SecurityGroups=[ctx.sgs[0]], Scheme="internet-facing",
            Type="application", IpAddressType="ipv4", Tags=tags,
        )["LoadBalancers"][0]
        for i in range(2)
    ]
    lb = lbs[0]["LoadBalancerArn"]
    ctx.web_lb, ctx.web_lb_extra = lb, lbs[1]["LoadBalancerArn"]
    expect_equal(sorted(z["SubnetId"] for z in lbs[0]["AvailabilityZones"]), sorted(ctx.subnets), "CreateLoadBalancer AvailabilityZones")
    described, pages = paginate(elb, "describe_load_balancers", "LoadBalancers", 1)
    expect({lb, ctx.web_lb_extra} <= {d["LoadBalancerArn"] for d in described} and pages >= 2, "DescribeLoadBalancers (PageSize=1) pages/LBs:", pages)

    attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb)["Attributes"]}
    for key, wanted in [("idle_timeout.timeout_seconds", "60"), ("routing.http2.enabled", "true"), ("deletion_protection.enabled", "false"),
                        ("access_logs.s3.enabled", "false"), ("load_balancing.cross_zone.enabled", "true")]:
        expect_equal(attributes.get(key), wanted, f"DescribeLoadBalancerAttributes default {key}")
    answer = elb.modify_load_balancer_attributes(LoadBalancerArn=lb, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "120"}])
    expect_equal({a["Key"]: a["Value"] for a in answer["Attributes"]}, dict(attributes, **{"idle_timeout.timeout_seconds": "120"}), "ModifyLoadBalancerAttributes answers every attribute")
    attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb)["Attributes"]}
    expect_equal(attributes["idle_timeout.timeout_seconds"], "120", "ModifyLoadBalancerAttributes idle_timeout.timeout_seconds")
    elb.set_security_groups(LoadBalancerArn=lb, SecurityGroups=ctx.sgs)
    elb.set_subnets(LoadBalancerArn=lb, Subnets=ctx.private_subnets)
    got = elb.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"][0]
    expect_equal(sorted(got["SecurityGroups"]), sorted(ctx.sgs), "SetSecurityGroups then SecurityGroups")
    expect_equal(sorted(z["SubnetId"] for z in got["AvailabilityZones"]), sorted(ctx.private_subnets), "SetSubnets then AvailabilityZones")
    elb.set_subnets(LoadBalancerArn=lb, Subnets=ctx.subnets)

    health = dict(
        HealthCheckProtocol="HTTP", HealthCheckPath="/login/index.php", HealthCheckIntervalSeconds=30, HealthyThresholdCount=2,
        UnhealthyThresholdCount=3, HealthCheckTimeoutSeconds=10, Matcher={"HttpCode": "200"},
    )
    tgs = [
        elb.create_target_group(Name=ctx.name(f"tg{i}"), Protocol="HTTP", Port=80, VpcId=ctx.vpc, TargetType="instance", Tags=tags, **health)["TargetGroups"][0]
        for i in range(2)
    ]
    tg = tgs[0]["TargetGroupArn"]
    ctx.web_tg, ctx.web_tg_extra = tg, tgs[1]["TargetGroupArn"]
    for field, wanted in health.items():
        expect_equal(tgs[0].get(field), wanted, f"CreateTargetGroup {field}")
    attributes = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=tg)["Attributes"]}
    for key, wanted in [("deregistration_delay.timeout_seconds", "300"), ("stickiness.enabled", "false"),
                        ("stickiness.type", "lb_cookie"), ("stickiness.lb_cookie.duration_seconds", "86400")]:
        expect_equal(attributes.get(key), wanted, f"DescribeTargetGroupAttributes default {key}")
    sent = {"deregistration_delay.timeout_seconds": "120", "stickiness.enabled": "true", "stickiness.type": "lb_cookie",
            "stickiness.lb_cookie.duration_seconds": "86400"}
    answer = elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[{"Key": k, "Value": v} for k, v in sent.items()])
    expect_equal({a["Key"]: a["Value"] for a in answer["Attributes"]}, dict(attributes, **sent), "ModifyTargetGroupAttributes answers every attribute")
    attributes = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=tg)["Attributes"]}
    expect_equal({k: attributes.get(k) for k in sent}, sent, "ModifyTargetGroupAttributes then DescribeTargetGroupAttributes")
    elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[{"Key": "stickiness.enabled", "Value": "false"}])
    modified = elb.modify_target_group(TargetGroupArn=tg, HealthCheckPath="/health.php", HealthCheckIntervalSeconds=15, HealthyThresholdCount=3)["TargetGroups"][0]
    expect_equal((modified["HealthCheckPath"], modified["HealthCheckIntervalSeconds"], modified["HealthyThresholdCount"], modified["UnhealthyThresholdCount"]),
                 ("/health.php", 15, 3, 3), "ModifyTargetGroup health check (omitted fields unchanged)")
    elb.modify_target_group(TargetGroupArn=tg, **{k: v for k, v in health.items() if k != "HealthCheckProtocol"})

    https = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": EXAMPLE_CERTIFICATE_ARN}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06", DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}], Tags=tags,
    )["Listeners"][0]
    http = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, Tags=tags,
        DefaultActions=[{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}],
    )["Listeners"][0]
    ctx.web_listeners = [https["ListenerArn"], http["ListenerArn"]]
    listeners, pages = paginate(elb, "describe_listeners", "Listeners", 1, LoadBalancerArn=lb)
    expect_equal(sorted(x["ListenerArn"] for x in listeners), sorted(ctx.web_listeners), "DescribeListeners (PageSize=1) listeners")
    expect(pages >= 2, "DescribeListeners: 2 listeners with PageSize=1 must take 2 pages:", pages)
    by_port = {x["Port"]: x for x in listeners}
    expect_equal(by_port[443].get("SslPolicy"), "ELBSecurityPolicy-TLS13-1-2-2021-06", "DescribeListeners HTTPS SslPolicy")
    expect_equal(by_port[443].get("Certificates"), [{"CertificateArn": EXAMPLE_CERTIFICATE_ARN}], "DescribeListeners HTTPS Certificates")
    expect_equal(by_port[443]["DefaultActions"], [{
        "Type": "forward", "TargetGroupArn": tg,
        "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg, "Weight": 1}], "TargetGroupStickinessConfig": {"Enabled": False}},
    }], "DescribeListeners forward action (AWS adds ForwardConfig)")
    expect("SslPolicy" not in by_port[80], "DescribeListeners: an HTTP listener has no SslPolicy:", by_port[80].get("SslPolicy"))
    expect_equal(by_port[80]["DefaultActions"], [{"Type": "redirect", "RedirectConfig": {
        "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301",
    }}], "DescribeListeners redirect action (AWS fills Host/Path/Query)")
    modified = elb.modify_listener(
        ListenerArn=https["ListenerArn"], Certificates=[{"CertificateArn": EXAMPLE_CERTIFICATE_ARN}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06", DefaultActions=[{"Type": "forward", "TargetGroupArn": ctx.web_tg_extra}],
    )["Listeners"][0]
    expect_equal((modified["SslPolicy"], modified["DefaultActions"][0]["TargetGroupArn"]), ("ELBSecurityPolicy-TLS13-1-3-2021-06", ctx.web_tg_extra), "ModifyListener")

    def behind(arn):
        return elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]["LoadBalancerArns"]

    expect_equal((behind(tg), behind(ctx.web_tg_extra)), ([], [lb]), "ModifyListener to another target group: DescribeTargetGroups LoadBalancerArns")
    elb.modify_listener(ListenerArn=https["ListenerArn"], SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06", DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    expect_equal((behind(tg), behind(ctx.web_tg_extra)), ([lb], []), "ModifyListener back: DescribeTargetGroups LoadBalancerArns")

    groups, pages = paginate(elb, "describe_target_groups", "TargetGroups", 1)
    by_arn = {g["TargetGroupArn"]: g for g in groups}
    expect({tg, ctx.web_tg_extra} <= set(by_arn) and pages >= 2, "DescribeTargetGroups (PageSize=1) pages/groups:", pages)
    expect_equal(by_arn[tg].get("LoadBalancerArns"), [lb], "DescribeTargetGroups LoadBalancerArns")
    arns = [lb, ctx.web_lb_extra, tg, ctx.web_tg_extra] + ctx.web_listeners
    described = {d["ResourceArn"]: d["Tags"] for d in elb.describe_tags(ResourceArns=arns)["TagDescriptions"]}
    expect_equal(described, {arn: tags for arn in arns}, "DescribeTags (load balancers, target groups, listeners)")
    expect_error("ResourceInUse", elb.delete_target_group, TargetGroupArn=tg)
    elb.delete_load_balancer(LoadBalancerArn=ctx.web_lb_extra)
    elb.delete_target_group(TargetGroupArn=ctx.web_tg_extra)
    expect_error("LoadBalancerNotFound", elb.describe_load_balancers, LoadBalancerArns=[ctx.web_lb_extra])
    expect_error("TargetGroupNotFound", elb.describe_target_groups, TargetGroupArns=[ctx.web_tg_extra])


def check_idempotent_creates(ctx):
    """Idempotent by name (load balancer, target group) and by port (listener) with the same settings."""
    elb = ctx.elbv2
    name = ctx.name("idem")
    lb_args = dict(Name=name, Subnets=ctx.subnets, SecurityGroups=[ctx.sgs[0]], Scheme="internet-facing", Type="application")
    lb = twice("CreateLoadBalancer", elb.create_load_balancer, lambda a: a["LoadBalancers"][0]["LoadBalancerArn"], **lb_args)
    expect_equal([x["LoadBalancerArn"] for x in elb.describe_load_balancers(Names=[name])["LoadBalancers"]], [lb], "CreateLoadBalancer twice: load balancers of that name")
    expect_error("DuplicateLoadBalancerName", elb.create_load_balancer, **dict(lb_args, Scheme="internal"))
    tg_args = dict(Name=name, Protocol="HTTP", Port=80, VpcId=ctx.vpc, TargetType="instance")
    tg = twice("CreateTargetGroup", elb.create_target_group, lambda a: a["TargetGroups"][0]["TargetGroupArn"], **tg_args)
    expect_error("DuplicateTargetGroupName", elb.create_target_group, **dict(tg_args, Port=8080))
    listener_args = dict(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    listener = twice("CreateListener", elb.create_listener, lambda a: a["Listeners"][0]["ListenerArn"], **listener_args)
    expect_equal([x["ListenerArn"] for x in elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]], [listener], "CreateListener twice: listeners on the port")
    redirect = [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]
    expect_error("DuplicateListener", elb.create_listener, **dict(listener_args, DefaultActions=redirect))
    elb.delete_listener(ListenerArn=listener)
    elb.delete_load_balancer(LoadBalancerArn=lb)
    elb.delete_target_group(TargetGroupArn=tg)


def check_security_attributes(ctx):
    """Issue 20's ALB attributes: invalid header fields, desync mitigation, deletion protection, access logs."""
    elb = ctx.elbv2
    lb = elb.create_load_balancer(Name=ctx.name("sec"), Subnets=ctx.subnets, SecurityGroups=[ctx.sgs[0]], Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb)["Attributes"]}
    for key, wanted in [("routing.http.drop_invalid_header_fields.enabled", "false"), ("routing.http.desync_mitigation_mode", "defensive"),
                        ("deletion_protection.enabled", "false"), ("access_logs.s3.enabled", "false")]:
        expect_equal(attributes.get(key), wanted, f"DescribeLoadBalancerAttributes default {key}")
    sent = {
        "routing.http.drop_invalid_header_fields.enabled": "true", "routing.http.desync_mitigation_mode": "strictest",
        "deletion_protection.enabled": "true", "access_logs.s3.enabled": "true", "access_logs.s3.bucket": f"chk-{ctx.run}-alb-logs",
        "access_logs.s3.prefix": "alb",
    }
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb, Attributes=[{"Key": k, "Value": v} for k, v in sent.items()])
    attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb)["Attributes"]}
    expect_equal({k: attributes.get(k) for k in sent}, sent, "ModifyLoadBalancerAttributes then DescribeLoadBalancerAttributes")
    expect_error("ValidationError", elb.modify_load_balancer_attributes, LoadBalancerArn=lb,
                 Attributes=[{"Key": "routing.http.desync_mitigation_mode", "Value": "lax"}])
    expect_error("OperationNotPermitted", elb.delete_load_balancer, LoadBalancerArn=lb)
    expect_equal(len(elb.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"]), 1, "DeleteLoadBalancer under deletion protection deletes nothing")
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}])
    elb.delete_load_balancer(LoadBalancerArn=lb)
    expect_error("LoadBalancerNotFound", elb.describe_load_balancers, LoadBalancerArns=[lb])
