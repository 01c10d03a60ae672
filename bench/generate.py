#!/usr/bin/env python3
"""Deterministic, seeded generator of synthetic repositories for the benchmark.

    python bench/generate.py terraform OUT --files 2000 --trail-percent 2 --seed 1
    python bench/generate.py terraform OUT --files 20000 --trail-percent 0
    python bench/generate.py dense OUT --modules 200
    python bench/generate.py cloudformation OUT --templates 200 --trail-percent 5

terraform: a monorepo of module directories (``<area>/<env>/<service>/``, 3-8
``.tf`` files each: main.tf, variables.tf, outputs.tf plus versions.tf, iam.tf,
network.tf, s3.tf, lambda.tf, database.tf, ...) holding ordinary AWS resources
(VPCs, subnets, security groups, IAM roles and policies with ``jsonencode`` and
``aws_iam_policy_document``, S3 buckets with policies, Lambda, RDS, SQS,
DynamoDB, ALB, ECS, CloudWatch, a few non-CloudTrail KMS keys), calls to shared
local modules (``modules/<name>``) and to registry modules. ``--trail-percent``
of the module directories hold an ``aws_cloudtrail`` encrypted with an
``aws_kms_key`` whose policy is an ``aws_iam_policy_document`` (or
``jsonencode``), about 40% of them through a local ``./modules/kms`` module,
with a mix of good and bad policies. ``--files`` counts ``.tf`` files exactly.
``.tf`` files are 2-10 KB (median ~5 KB), except about 1% of small
outputs.tf / variables.tf files (a local kms module's, for one).

dense: ``--modules`` directories, each a trail + key + policy document (+ its
log bucket, CloudWatch Logs group and role), 4 files each.

cloudformation: ``--templates`` YAML templates (4-25 KB) of ordinary stacks;
``--trail-percent`` of them hold an ``AWS::CloudTrail::Trail`` with an
``AWS::KMS::Key`` and its key policy (good and bad).

The same arguments and seed always give a byte-identical tree (no time, no
hash randomisation, sorted output). The tree gets a ``.git/HEAD`` marker (not a
real repository) so that tools that look for the repository root find it, as
they would in a clone. OUT must not exist, or be given with ``--force``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from writer import Block, Raw, Tag, render, yaml  # noqa: E402

GENERATOR_VERSION = "1"
KB = 1024
MAX_TF_BYTES = 10 * KB

AREAS = ["platform", "payments", "identity", "data", "search", "mobile", "ml", "analytics", "security",
         "networking", "core", "billing", "growth", "edge", "messaging", "catalog", "fulfilment", "risk"]
ENVS = ["dev", "staging", "prod", "sandbox", "qa"]
NOUNS = ["orders", "ledger", "invoices", "users", "sessions", "search", "catalog", "pricing", "inventory",
         "shipping", "notifications", "reports", "events", "payments", "refunds", "accounts", "profiles",
         "images", "thumbnails", "exports", "imports", "audit", "metrics", "alerts", "webhooks", "tokens",
         "quotes", "carts", "reviews", "feeds", "recommendations", "fraud", "kyc", "ingest", "etl", "archive"]
ROLES = ["api", "worker", "consumer", "scheduler", "gateway", "processor", "service", "sync", "indexer",
         "frontend", "backend", "pipeline", "stream", "batch", "store", "cache"]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-2"]
RUNTIMES = ["python3.12", "python3.11", "nodejs20.x", "java21", "provided.al2023"]
SHARED_MODULES = ["vpc", "service-role", "bucket", "alarms", "queue", "lambda", "database", "ecs-service",
                  "kms-key", "dns", "waf", "bastion"]
REGISTRY_MODULES = [("terraform-aws-modules/vpc/aws", "5.8.1"), ("terraform-aws-modules/s3-bucket/aws", "4.1.2"),
                    ("terraform-aws-modules/lambda/aws", "7.7.0"), ("terraform-aws-modules/rds/aws", "6.7.0"),
                    ("terraform-aws-modules/security-group/aws", "5.1.2"), ("cloudposse/label/null", "0.25.0")]
S3_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetObjectVersion",
              "s3:GetBucketLocation", "s3:AbortMultipartUpload"]
DDB_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:Scan",
               "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem"]
SQS_ACTIONS = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
               "sqs:ChangeMessageVisibility"]
LOG_ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]

# Trail key policy variants: name -> weight. The expected verdicts are for information (manifest).
TRAIL_VARIANTS = [
    ("good_document", 40, []),
    ("good_jsonencode", 12, []),
    ("bad_missing_describe_key", 10, ["CTKMS003"]),
    ("bad_stringequals_wildcard", 8, ["CTKMS004"]),  # DescribeKey has its own statement
    ("bad_no_reader_grant", 10, ["CTKMS006"]),
    ("warn_unscoped_grant", 8, ["CTKMS005"]),
    ("bad_no_key", 6, ["CTKMS001"]),
    ("unknown_key_variable", 6, ["CTKMS007"]),
]


# ====================================================================== helpers


def tags(extra: Optional[dict] = None) -> Raw:
    if not extra:
        return Raw("local.tags")
    inner = ", ".join(f'{k} = "{v}"' for k, v in extra.items())
    return Raw(f"merge(local.tags, {{ {inner} }})")


class Module:
    """What one module directory defines while its files are generated."""

    def __init__(self, rng: random.Random, name: str, env: str, area: str, depth: int):
        self.rng = rng
        self.name = name
        self.env = env
        self.area = area
        self.depth = depth  # directories below the repository root
        self.labels: set[str] = set()
        self.outputs: list[tuple[str, str, str]] = []  # (name, expression, description)
        self.vars: dict[str, tuple] = {}  # name -> (type, default or Ellipsis, description)
        self.data_sources: set[str] = set()

    def label(self, base: str) -> str:
        base = base.replace("-", "_")
        if base not in self.labels:
            self.labels.add(base)
            return base
        i = 2
        while f"{base}_{i}" in self.labels:
            i += 1
        self.labels.add(f"{base}_{i}")
        return f"{base}_{i}"

    def var(self, name: str) -> Raw:
        if name not in self.vars:
            self.vars[name] = STANDARD_VARS.get(name, ("string", Ellipsis, f"Value of {name.replace('_', ' ')}"))
        return Raw(f"var.{name}")

    def output(self, name: str, expr: str, description: str) -> None:
        if all(o[0] != name for o in self.outputs):
            self.outputs.append((name, expr, description))

    def pick(self, seq, k: int = 1):
        return self.rng.sample(list(seq), min(k, len(seq)))


STANDARD_VARS: dict[str, tuple] = {
    "name": ("string", Ellipsis, "Name prefix for every resource of this module"),
    "environment": ("string", "dev", "Deployment environment (dev, staging, prod, ...)"),
    "region": ("string", "eu-west-1", "AWS region the resources are created in"),
    "tags": ("map(string)", {}, "Tags added to every resource, on top of the default tags"),
    "vpc_id": ("string", Ellipsis, "Identifier of the VPC the resources are placed in"),
    "vpc_cidr": ("string", "10.20.0.0/16", "CIDR block of the VPC"),
    "subnet_ids": ("list(string)", Ellipsis, "Private subnets for the service's network interfaces"),
    "azs": ("list(string)", ["eu-west-1a", "eu-west-1b", "eu-west-1c"], "Availability zones to spread subnets over"),
    "allowed_cidrs": ("list(string)", ["10.0.0.0/8"], "CIDR blocks allowed to reach the service"),
    "log_retention_days": ("number", 30, "How long CloudWatch Logs keeps the service's logs"),
    "alarm_email": ("string", "oncall@example.com", "Address that receives alarm notifications"),
    "kms_key_arn": ("string", None, "KMS key for encryption at rest; null uses the AWS managed key"),
    "lambda_runtime": ("string", "python3.12", "Lambda runtime"),
    "lambda_memory_size": ("number", 512, "Memory of the Lambda function, in MB"),
    "lambda_timeout": ("number", 30, "Timeout of the Lambda function, in seconds"),
    "db_instance_class": ("string", "db.t4g.medium", "Instance class of the database"),
    "db_allocated_storage": ("number", 50, "Allocated storage of the database, in GB"),
    "db_engine_version": ("string", "16.3", "PostgreSQL engine version"),
    "backup_retention_period": ("number", 7, "Days of automated database backups"),
    "deletion_protection": ("bool", True, "Protect the database and load balancer from deletion"),
    "container_image": ("string", Ellipsis, "Container image of the service, with its tag"),
    "container_port": ("number", 8080, "Port the container listens on"),
    "desired_count": ("number", 2, "Number of tasks to keep running"),
    "certificate_arn": ("string", Ellipsis, "ACM certificate of the HTTPS listener"),
    "enable_flow_logs": ("bool", True, "Send VPC flow logs to CloudWatch Logs"),
    "trail_name": ("string", "management-events", "Name of the CloudTrail trail"),
    "log_reader_roles": ("list(string)", ["SecurityAudit", "IncidentResponse"], "IAM roles that read the trail's logs"),
}

FILLER_VARS = [
    ("enable_deletion_protection", "bool", True, "Whether deletion protection is turned on for stateful resources"),
    ("owner_team", "string", "platform", "Team that owns the resources; goes into the Owner tag"),
    ("cost_center", "string", "cc-1234", "Cost centre the resources are billed to"),
    ("data_classification", "string", "internal", "Data classification of what the service stores"),
    ("max_receive_count", "number", 5, "Receives before a message moves to the dead-letter queue"),
    ("visibility_timeout_seconds", "number", 60, "SQS visibility timeout, in seconds"),
    ("message_retention_seconds", "number", 345600, "How long SQS keeps a message, in seconds"),
    ("read_capacity", "number", 5, "DynamoDB read capacity units when not on demand"),
    ("write_capacity", "number", 5, "DynamoDB write capacity units when not on demand"),
    ("health_check_path", "string", "/healthz", "Path the load balancer's health check requests"),
    ("health_check_interval", "number", 15, "Seconds between health checks"),
    ("cpu", "number", 512, "CPU units of the task"),
    ("memory", "number", 1024, "Memory of the task, in MB"),
    ("autoscaling_min", "number", 2, "Minimum number of tasks"),
    ("autoscaling_max", "number", 10, "Maximum number of tasks"),
    ("schedule_expression", "string", "rate(5 minutes)", "EventBridge schedule of the periodic job"),
    ("noncurrent_version_expiration_days", "number", 90, "Days before noncurrent object versions expire"),
    ("transition_to_ia_days", "number", 30, "Days before objects move to STANDARD_IA"),
    ("alarm_evaluation_periods", "number", 3, "Periods an alarm condition must hold before it fires"),
    ("error_rate_threshold", "number", 5, "Error rate, in per cent, above which the error alarm fires"),
    ("latency_threshold_ms", "number", 800, "p99 latency, in milliseconds, above which the latency alarm fires"),
    ("dns_zone_id", "string", "Z0123456789ABCDEFGHIJ", "Route 53 hosted zone of the service's record"),
    ("domain_name", "string", "service.example.com", "DNS name of the service"),
    ("extra_policy_arns", "list(string)", [], "Managed policies attached to the service role as well"),
    ("environment_variables", "map(string)", {"LOG_LEVEL": "info"}, "Environment variables of the function"),
    ("reserved_concurrency", "number", -1, "Reserved concurrency of the function; -1 for none"),
    ("multi_az", "bool", False, "Run the database in several availability zones"),
    ("performance_insights_enabled", "bool", True, "Turn on Performance Insights for the database"),
    ("maintenance_window", "string", "sun:03:00-sun:04:00", "Weekly maintenance window of the database"),
    ("backup_window", "string", "01:00-02:00", "Daily backup window of the database"),
]


def variable_block(name: str, typ: str, default: Any, description: str, rng: random.Random) -> Block:
    body: list = [("description", description), ("type", Raw(typ))]
    if default is not Ellipsis:
        body.append(("default", default))
    if typ == "string" and default is not Ellipsis and default is not None and rng.random() < 0.25:
        body.append(None)
        body.append(Block("validation", (), [
            ("condition", Raw(f"length(var.{name}) > 0")),
            ("error_message", f"The {name.replace('_', ' ')} must not be empty."),
        ]))
    if typ == "number" and rng.random() < 0.2:
        body.append(None)
        body.append(Block("validation", (), [
            ("condition", Raw(f"var.{name} >= -1")),
            ("error_message", f"The {name.replace('_', ' ')} must be -1 or more."),
        ]))
    return Block("variable", (name,), body)


def locals_block(m: Module) -> Block:
    return Block("locals", (), [
        ("name", "${var.name}-${var.environment}"),
        ("tags", Raw("merge(var.tags, {\n"
                     f"    Service     = \"{m.name}\"\n"
                     "    Environment = var.environment\n"
                     f"    Team        = \"{m.area}\"\n"
                     "    ManagedBy   = \"terraform\"\n"
                     f"    Repository  = \"infrastructure/{m.area}\"\n"
                     "  })")),
    ])


# ====================================================================== ordinary resources
# Each generator returns a list of Blocks and registers the variables and outputs it uses.


def gen_vpc(m: Module) -> list:
    m.var("vpc_cidr"), m.var("azs"), m.var("enable_flow_logs")
    vpc = m.label("main")
    blocks = [
        Block("resource", ("aws_vpc", vpc), [
            ("cidr_block", Raw("var.vpc_cidr")), ("enable_dns_hostnames", True), ("enable_dns_support", True),
            None, ("tags", tags({"Name": "${local.name}-vpc"}))]),
    ]
    subnet_labels = {}
    for tier, bits, public in (("private", 0, False), ("public", 8, True)):
        sn = m.label(tier)
        subnet_labels[tier] = sn
        body = [("count", Raw("length(var.azs)")), None,
                ("vpc_id", Raw(f"aws_vpc.{vpc}.id")),
                ("cidr_block", Raw(f"cidrsubnet(var.vpc_cidr, 4, count.index + {bits})")),
                ("availability_zone", Raw("var.azs[count.index]"))]
        if public:
            body.append(("map_public_ip_on_launch", False))
        body += [None, ("tags", tags({"Name": f"${{local.name}}-{tier}-${{var.azs[count.index]}}", "Tier": tier}))]
        blocks.append(Block("resource", ("aws_subnet", sn), body))
        m.output(f"{sn}_subnet_ids", f"aws_subnet.{sn}[*].id", f"Identifiers of the {tier} subnets")
    igw = m.label("igw")
    blocks.append(Block("resource", ("aws_internet_gateway", igw), [("vpc_id", Raw(f"aws_vpc.{vpc}.id")), None,
                                                                     ("tags", tags({"Name": "${local.name}-igw"}))]))
    eip = m.label("nat")
    blocks.append(Block("resource", ("aws_eip", eip), [("count", Raw("length(var.azs)")), ("domain", "vpc"), None,
                                                        ("tags", tags({"Name": "${local.name}-nat-${count.index}"}))]))
    nat = m.label("nat")
    blocks.append(Block("resource", ("aws_nat_gateway", nat), [
        ("count", Raw("length(var.azs)")), None,
        ("allocation_id", Raw(f"aws_eip.{eip}[count.index].id")),
        ("subnet_id", Raw(f"aws_subnet.{subnet_labels['public']}[count.index].id")),
        None, ("tags", tags({"Name": "${local.name}-nat-${count.index}"})),
        None, ("depends_on", [Raw(f"aws_internet_gateway.{igw}")])]))
    rt = m.label("private")
    blocks.append(Block("resource", ("aws_route_table", rt), [
        ("count", Raw("length(var.azs)")), ("vpc_id", Raw(f"aws_vpc.{vpc}.id")), None,
        Block("route", (), [("cidr_block", "0.0.0.0/0"), ("nat_gateway_id", Raw(f"aws_nat_gateway.{nat}[count.index].id"))]),
        None, ("tags", tags({"Name": "${local.name}-private-${count.index}"}))]))
    rta = m.label("private")
    blocks.append(Block("resource", ("aws_route_table_association", rta), [
        ("count", Raw("length(var.azs)")), ("subnet_id", Raw(f"aws_subnet.{subnet_labels['private']}[count.index].id")),
        ("route_table_id", Raw(f"aws_route_table.{rt}[count.index].id"))]))
    lg = m.label("flow_logs")
    blocks.append(Block("resource", ("aws_cloudwatch_log_group", lg), [
        ("count", Raw("var.enable_flow_logs ? 1 : 0")), ("name", "/aws/vpc/${local.name}/flow-logs"),
        ("retention_in_days", Raw("var.log_retention_days")), ("tags", tags())]))
    m.var("log_retention_days")
    fl = m.label("main")
    blocks.append(Block("resource", ("aws_flow_log", fl), [
        ("count", Raw("var.enable_flow_logs ? 1 : 0")), ("vpc_id", Raw(f"aws_vpc.{vpc}.id")),
        ("traffic_type", "ALL"), ("log_destination", Raw(f"aws_cloudwatch_log_group.{lg}[0].arn")),
        ("log_destination_type", "cloud-watch-logs"), ("max_aggregation_interval", 60),
        ("iam_role_arn", Raw("var.flow_logs_role_arn"))]))
    m.var("flow_logs_role_arn")
    m.output("vpc_id", f"aws_vpc.{vpc}.id", "Identifier of the VPC")
    m.output("vpc_cidr_block", f"aws_vpc.{vpc}.cidr_block", "CIDR block of the VPC")
    return blocks


def gen_security_group(m: Module) -> list:
    m.var("vpc_id"), m.var("allowed_cidrs")
    sg = m.label(m.rng.choice(["service", "app", "db", "lb", "worker", "endpoint"]))
    ports = m.pick([(443, "HTTPS"), (80, "HTTP"), (5432, "PostgreSQL"), (6379, "Redis"), (8080, "application"),
                    (9090, "metrics"), (22, "SSH from the bastion"), (3306, "MySQL")], m.rng.randint(1, 4))
    body: list = [("name_prefix", f"${{local.name}}-{sg.replace('_', '-')}-"),
                  ("description", f"Traffic to the {m.name} {sg.replace('_', ' ')} tier"),
                  ("vpc_id", Raw("var.vpc_id")), None]
    if m.rng.random() < 0.3:
        body.append(Block("dynamic", ("ingress",), [
            ("for_each", Raw("var.allowed_cidrs")), None,
            Block("content", (), [("description", "From ${ingress.value}"), ("from_port", ports[0][0]),
                                  ("to_port", ports[0][0]), ("protocol", "tcp"), ("cidr_blocks", [Raw("ingress.value")])])]))
        body.append(None)
    else:
        for port, what in ports:
            body.append(Block("ingress", (), [("description", what), ("from_port", port), ("to_port", port),
                                              ("protocol", "tcp"), ("cidr_blocks", Raw("var.allowed_cidrs"))]))
            body.append(None)
    body.append(Block("egress", (), [("description", "Anywhere"), ("from_port", 0), ("to_port", 0),
                                     ("protocol", "-1"), ("cidr_blocks", ["0.0.0.0/0"]), ("ipv6_cidr_blocks", ["::/0"])]))
    body += [None, ("tags", tags({"Name": f"${{local.name}}-{sg}"})), None,
             Block("lifecycle", (), [("create_before_destroy", True)])]
    blocks = [Block("resource", ("aws_security_group", sg), body)]
    if m.rng.random() < 0.5:
        rule = m.label(f"{sg}_self")
        blocks.append(Block("resource", ("aws_vpc_security_group_ingress_rule", rule), [
            ("security_group_id", Raw(f"aws_security_group.{sg}.id")), ("description", "Between members of the group"),
            ("referenced_security_group_id", Raw(f"aws_security_group.{sg}.id")), ("ip_protocol", "-1"), ("tags", tags())]))
    m.output(f"{sg}_security_group_id", f"aws_security_group.{sg}.id", f"Security group of the {sg.replace('_', ' ')} tier")
    return blocks


def _statement(m: Module, actions: list, resources: list, sid: str, condition: Optional[dict] = None) -> dict:
    st: dict = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        st["Condition"] = condition
    return st


def gen_iam_role(m: Module) -> list:
    service = m.rng.choice(["lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "ec2.amazonaws.com",
                            "states.amazonaws.com", "events.amazonaws.com", "glue.amazonaws.com"])
    role = m.label(service.split(".")[0].replace("-", "_"))
    blocks = [Block("resource", ("aws_iam_role", role), [
        ("name", f"${{local.name}}-{role.replace('_', '-')}"),
        ("description", f"Role assumed by {service} for {m.name}"),
        ("assume_role_policy", Raw("jsonencode(" + _hcl_obj({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole",
                           "Condition": {"StringEquals": {"aws:SourceAccount": Raw("data.aws_caller_identity.current.account_id")}}}],
        }, 1) + ")")),
        ("max_session_duration", 3600), None, ("tags", tags())])]
    m.data_sources.add("aws_caller_identity")
    statements = []
    for i in range(m.rng.randint(2, 5)):
        kind = m.rng.choice(["s3", "ddb", "sqs", "logs", "ssm", "kms"])
        if kind == "s3":
            statements.append(_statement(m, m.pick(S3_ACTIONS, m.rng.randint(2, 5)),
                                         [f"arn:aws:s3:::${{local.name}}-{m.rng.choice(NOUNS)}",
                                          f"arn:aws:s3:::${{local.name}}-{m.rng.choice(NOUNS)}/*"], f"S3Access{i}"))
        elif kind == "ddb":
            statements.append(_statement(m, m.pick(DDB_ACTIONS, m.rng.randint(2, 6)),
                                         [f"arn:aws:dynamodb:${{var.region}}:${{data.aws_caller_identity.current.account_id}}:table/${{local.name}}-{m.rng.choice(NOUNS)}",
                                          f"arn:aws:dynamodb:${{var.region}}:${{data.aws_caller_identity.current.account_id}}:table/${{local.name}}-{m.rng.choice(NOUNS)}/index/*"],
                                         f"DynamoDBAccess{i}"))
            m.var("region")
        elif kind == "sqs":
            statements.append(_statement(m, m.pick(SQS_ACTIONS, m.rng.randint(2, 4)),
                                         [f"arn:aws:sqs:${{var.region}}:${{data.aws_caller_identity.current.account_id}}:${{local.name}}-{m.rng.choice(NOUNS)}"],
                                         f"QueueAccess{i}"))
            m.var("region")
        elif kind == "logs":
            statements.append(_statement(m, LOG_ACTIONS, ["arn:aws:logs:*:*:log-group:/aws/${local.name}/*"], f"Logs{i}"))
        elif kind == "ssm":
            statements.append(_statement(m, ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
                                         [f"arn:aws:ssm:${{var.region}}:${{data.aws_caller_identity.current.account_id}}:parameter/${{var.environment}}/{m.name}/*"],
                                         f"Parameters{i}"))
            m.var("region"), m.var("environment")
        else:
            statements.append(_statement(m, ["kms:Decrypt", "kms:GenerateDataKey"], [Raw("var.kms_key_arn")], f"Kms{i}",
                                         {"StringEquals": {"kms:ViaService": f"s3.${{var.region}}.amazonaws.com"}}))
            m.var("kms_key_arn"), m.var("region")
    pol = m.label(role)
    blocks.append(Block("resource", ("aws_iam_policy", pol), [
        ("name", f"${{local.name}}-{pol.replace('_', '-')}"), ("description", f"What {m.name} may do"),
        ("policy", Raw("jsonencode(" + _hcl_obj({"Version": "2012-10-17", "Statement": statements}, 1) + ")")),
        None, ("tags", tags())]))
    att = m.label(role)
    blocks.append(Block("resource", ("aws_iam_role_policy_attachment", att), [
        ("role", Raw(f"aws_iam_role.{role}.name")), ("policy_arn", Raw(f"aws_iam_policy.{pol}.arn"))]))
    if m.rng.random() < 0.4:
        extra = m.label(f"{role}_extra")
        m.var("extra_policy_arns")
        blocks.append(Block("resource", ("aws_iam_role_policy_attachment", extra), [
            ("for_each", Raw("toset(var.extra_policy_arns)")), None,
            ("role", Raw(f"aws_iam_role.{role}.name")), ("policy_arn", Raw("each.value"))]))
    m.output(f"{role}_role_arn", f"aws_iam_role.{role}.arn", f"ARN of the role {service} assumes")
    m.output(f"{role}_role_name", f"aws_iam_role.{role}.name", f"Name of the role {service} assumes")
    return blocks


def gen_policy_document(m: Module) -> list:
    """An ordinary data "aws_iam_policy_document" (no KMS, no CloudTrail): very common in real modules."""
    doc = m.label(m.rng.choice(["access", "read_only", "publisher", "consumer", "deploy"]))
    body: list = []
    for i in range(m.rng.randint(2, 4)):
        kind = m.rng.choice(["s3", "sqs", "ddb"])
        actions = m.pick({"s3": S3_ACTIONS, "sqs": SQS_ACTIONS, "ddb": DDB_ACTIONS}[kind], m.rng.randint(2, 4))
        st: list = [("sid", f"{doc.title().replace('_', '')}{i}"), ("effect", "Allow"), ("actions", actions),
                    ("resources", [f"arn:aws:{'s3:::' if kind == 's3' else kind + ':*:*:'}${{local.name}}-{m.rng.choice(NOUNS)}*"])]
        if m.rng.random() < 0.4:
            st.append(None)
            st.append(Block("condition", (), [("test", "StringEquals"), ("variable", "aws:PrincipalOrgID"),
                                              ("values", [f"o-{m.rng.randrange(16**10):010x}"])]))
        body.append(Block("statement", (), st))
        body.append(None)
    if body:
        body.pop()
    blocks = [Block("data", ("aws_iam_policy_document", doc), body)]
    pol = m.label(f"{doc}_policy")
    blocks.append(Block("resource", ("aws_iam_policy", pol), [
        ("name_prefix", f"${{local.name}}-{doc.replace('_', '-')}-"),
        ("policy", Raw(f"data.aws_iam_policy_document.{doc}.json")), ("tags", tags())]))
    m.output(f"{pol}_arn", f"aws_iam_policy.{pol}.arn", f"ARN of the {doc.replace('_', ' ')} policy")
    return blocks


def gen_s3(m: Module) -> list:
    b = m.label(m.rng.choice(["artifacts", "uploads", "exports", "data", "assets", "backups", "reports"]))
    m.var("kms_key_arn")
    blocks = [
        Block("resource", ("aws_s3_bucket", b), [("bucket", f"${{local.name}}-{b.replace('_', '-')}"),
                                                  ("force_destroy", False), None, ("tags", tags({"Name": f"${{local.name}}-{b}"}))]),
        Block("resource", ("aws_s3_bucket_versioning", b), [
            ("bucket", Raw(f"aws_s3_bucket.{b}.id")), None, Block("versioning_configuration", (), [("status", "Enabled")])]),
        Block("resource", ("aws_s3_bucket_server_side_encryption_configuration", b), [
            ("bucket", Raw(f"aws_s3_bucket.{b}.id")), None,
            Block("rule", (), [Block("apply_server_side_encryption_by_default", (), [
                ("sse_algorithm", Raw('var.kms_key_arn == null ? "AES256" : "aws:kms"')),
                ("kms_master_key_id", Raw("var.kms_key_arn"))]), ("bucket_key_enabled", True)])]),
        Block("resource", ("aws_s3_bucket_public_access_block", b), [
            ("bucket", Raw(f"aws_s3_bucket.{b}.id")), None, ("block_public_acls", True), ("block_public_policy", True),
            ("ignore_public_acls", True), ("restrict_public_buckets", True)]),
    ]
    if m.rng.random() < 0.7:
        rules = []
        for prefix in m.pick(["logs/", "tmp/", "exports/", "raw/", "archive/"], m.rng.randint(1, 3)):
            rules.append(Block("rule", (), [
                ("id", f"{prefix.rstrip('/')}-lifecycle"), ("status", "Enabled"), None,
                Block("filter", (), [("prefix", prefix)]), None,
                Block("transition", (), [("days", m.rng.choice([30, 60, 90])), ("storage_class", "STANDARD_IA")]), None,
                Block("expiration", (), [("days", m.rng.choice([180, 365, 730]))]), None,
                Block("noncurrent_version_expiration", (), [("noncurrent_days", 90)])]))
            rules.append(None)
        rules.pop()
        blocks.append(Block("resource", ("aws_s3_bucket_lifecycle_configuration", b),
                            [("bucket", Raw(f"aws_s3_bucket.{b}.id")), None] + rules))
    m.data_sources.add("aws_caller_identity")
    blocks.append(Block("resource", ("aws_s3_bucket_policy", b), [
        ("bucket", Raw(f"aws_s3_bucket.{b}.id")),
        ("policy", Raw("jsonencode(" + _hcl_obj({"Version": "2012-10-17", "Statement": [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [Raw(f"aws_s3_bucket.{b}.arn"), Raw(f'"${{aws_s3_bucket.{b}.arn}}/*"')],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "AllowAccountRead", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"},
             "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": [Raw(f"aws_s3_bucket.{b}.arn"), Raw(f'"${{aws_s3_bucket.{b}.arn}}/*"')]},
        ]}, 1) + ")"))]))
    m.output(f"{b}_bucket_name", f"aws_s3_bucket.{b}.id", f"Name of the {b.replace('_', ' ')} bucket")
    m.output(f"{b}_bucket_arn", f"aws_s3_bucket.{b}.arn", f"ARN of the {b.replace('_', ' ')} bucket")
    return blocks


def gen_lambda(m: Module) -> list:
    m.var("lambda_runtime"), m.var("lambda_memory_size"), m.var("lambda_timeout"), m.var("subnet_ids")
    m.var("log_retention_days"), m.var("environment_variables")
    fn = m.label(m.rng.choice(["handler", "processor", "authorizer", "scheduler", "notifier", "resizer"]))
    lg = m.label(fn)
    role = m.label(f"{fn}_lambda")
    m.var("kms_key_arn")
    blocks = [
        Block("resource", ("aws_cloudwatch_log_group", lg), [
            ("name", f"/aws/lambda/${{local.name}}-{fn.replace('_', '-')}"), ("retention_in_days", Raw("var.log_retention_days")),
            ("kms_key_id", Raw("var.kms_key_arn")), ("tags", tags())]),
        Block("resource", ("aws_iam_role", role), [
            ("name", f"${{local.name}}-{fn.replace('_', '-')}-lambda"),
            ("assume_role_policy", Raw("jsonencode(" + _hcl_obj({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}, 1) + ")")),
            ("tags", tags())]),
        Block("resource", ("aws_iam_role_policy_attachment", f"{role}_vpc"), [
            ("role", Raw(f"aws_iam_role.{role}.name")),
            ("policy_arn", "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")]),
        Block("resource", ("aws_lambda_function", fn), [
            ("function_name", f"${{local.name}}-{fn.replace('_', '-')}"),
            ("description", f"{fn.replace('_', ' ').title()} of {m.name}"),
            ("role", Raw(f"aws_iam_role.{role}.arn")), ("runtime", Raw("var.lambda_runtime")),
            ("handler", "app.handler"), ("s3_bucket", "${var.environment}-lambda-artifacts"),
            ("s3_key", f"{m.name}/{fn}/${{var.environment}}.zip"), ("memory_size", Raw("var.lambda_memory_size")),
            ("timeout", Raw("var.lambda_timeout")), ("architectures", ["arm64"]), None,
            Block("environment", (), [("variables", Raw("merge(var.environment_variables, {\n"
                                                           "      SERVICE     = \"" + m.name + "\"\n"
                                                           "      ENVIRONMENT = var.environment\n"
                                                           "      POWERTOOLS_SERVICE_NAME = \"" + m.name + "\"\n"
                                                           "    })"))]), None,
            Block("vpc_config", (), [("subnet_ids", Raw("var.subnet_ids")), ("security_group_ids", Raw("var.security_group_ids"))]),
            None, Block("tracing_config", (), [("mode", "Active")]), None,
            ("tags", tags()), None, ("depends_on", [Raw(f"aws_cloudwatch_log_group.{lg}")])]),
    ]
    m.labels.add(f"{role}_vpc")
    m.var("security_group_ids")
    if m.rng.random() < 0.6:
        rule = m.label(f"{fn}_schedule")
        m.var("schedule_expression")
        blocks += [
            Block("resource", ("aws_cloudwatch_event_rule", rule), [
                ("name", f"${{local.name}}-{fn.replace('_', '-')}-schedule"), ("schedule_expression", Raw("var.schedule_expression")),
                ("tags", tags())]),
            Block("resource", ("aws_cloudwatch_event_target", rule), [
                ("rule", Raw(f"aws_cloudwatch_event_rule.{rule}.name")), ("arn", Raw(f"aws_lambda_function.{fn}.arn"))]),
            Block("resource", ("aws_lambda_permission", rule), [
                ("statement_id", "AllowEventBridge"), ("action", "lambda:InvokeFunction"),
                ("function_name", Raw(f"aws_lambda_function.{fn}.function_name")), ("principal", "events.amazonaws.com"),
                ("source_arn", Raw(f"aws_cloudwatch_event_rule.{rule}.arn"))]),
        ]
    m.output(f"{fn}_function_arn", f"aws_lambda_function.{fn}.arn", f"ARN of the {fn.replace('_', ' ')} function")
    m.output(f"{fn}_function_name", f"aws_lambda_function.{fn}.function_name", f"Name of the {fn.replace('_', ' ')} function")
    return blocks


def gen_rds(m: Module) -> list:
    for v in ("subnet_ids", "db_instance_class", "db_allocated_storage", "db_engine_version", "backup_retention_period",
              "deletion_protection", "kms_key_arn", "multi_az", "performance_insights_enabled", "maintenance_window",
              "backup_window", "security_group_ids"):
        m.var(v)
    db = m.label(m.rng.choice(["main", "primary", "reporting", "ledger"]))
    params = m.pick([("log_min_duration_statement", "500"), ("rds.force_ssl", "1"), ("log_connections", "1"),
                     ("log_disconnections", "1"), ("shared_preload_libraries", "pg_stat_statements"),
                     ("idle_in_transaction_session_timeout", "60000"), ("statement_timeout", "30000"),
                     ("work_mem", "16384")], m.rng.randint(3, 6))
    pg_body: list = [("name_prefix", f"${{local.name}}-{db}-"), ("family", "postgres16"),
                     ("description", f"Parameters of the {db} database"), None]
    for name, v in params:
        pg_body.append(Block("parameter", (), [("name", name), ("value", v),
                                               ("apply_method", "pending-reboot" if name == "shared_preload_libraries" else "immediate")]))
    pg_body += [None, ("tags", tags()), None, Block("lifecycle", (), [("create_before_destroy", True)])]
    blocks = [
        Block("resource", ("aws_db_subnet_group", db), [("name_prefix", f"${{local.name}}-{db}-"),
                                                        ("subnet_ids", Raw("var.subnet_ids")), ("tags", tags())]),
        Block("resource", ("aws_db_parameter_group", db), pg_body),
        Block("resource", ("aws_db_instance", db), [
            ("identifier", f"${{local.name}}-{db}"), ("engine", "postgres"), ("engine_version", Raw("var.db_engine_version")),
            ("instance_class", Raw("var.db_instance_class")), ("allocated_storage", Raw("var.db_allocated_storage")),
            ("max_allocated_storage", Raw("var.db_allocated_storage * 4")), ("storage_type", "gp3"),
            ("storage_encrypted", True), ("kms_key_id", Raw("var.kms_key_arn")), None,
            ("db_name", db), ("username", "app_admin"), ("manage_master_user_password", True), ("port", 5432), None,
            ("db_subnet_group_name", Raw(f"aws_db_subnet_group.{db}.name")),
            ("parameter_group_name", Raw(f"aws_db_parameter_group.{db}.name")),
            ("vpc_security_group_ids", Raw("var.security_group_ids")), ("multi_az", Raw("var.multi_az")),
            ("publicly_accessible", False), None,
            ("backup_retention_period", Raw("var.backup_retention_period")), ("backup_window", Raw("var.backup_window")),
            ("maintenance_window", Raw("var.maintenance_window")), ("copy_tags_to_snapshot", True),
            ("deletion_protection", Raw("var.deletion_protection")), ("skip_final_snapshot", False),
            ("final_snapshot_identifier", f"${{local.name}}-{db}-final"), None,
            ("performance_insights_enabled", Raw("var.performance_insights_enabled")),
            ("monitoring_interval", 60), ("enabled_cloudwatch_logs_exports", ["postgresql", "upgrade"]),
            ("auto_minor_version_upgrade", True), None, ("tags", tags({"Name": f"${{local.name}}-{db}"}))]),
    ]
    m.output(f"{db}_db_endpoint", f"aws_db_instance.{db}.endpoint", f"Endpoint of the {db} database")
    m.output(f"{db}_db_arn", f"aws_db_instance.{db}.arn", f"ARN of the {db} database")
    return blocks


def gen_monitoring(m: Module) -> list:
    m.var("alarm_email"), m.var("alarm_evaluation_periods")
    topic = m.label("alarms")
    blocks = [
        Block("resource", ("aws_sns_topic", topic), [("name", f"${{local.name}}-{topic}"),
                                                     ("kms_master_key_id", "alias/aws/sns"), ("tags", tags())]),
        Block("resource", ("aws_sns_topic_subscription", topic), [
            ("topic_arn", Raw(f"aws_sns_topic.{topic}.arn")), ("protocol", "email"), ("endpoint", Raw("var.alarm_email"))]),
    ]
    for _ in range(m.rng.randint(2, 5)):
        metric, ns, dim, stat, thr = m.rng.choice([
            ("Errors", "AWS/Lambda", "FunctionName", "Sum", 5), ("Throttles", "AWS/Lambda", "FunctionName", "Sum", 1),
            ("CPUUtilization", "AWS/RDS", "DBInstanceIdentifier", "Average", 80),
            ("FreeStorageSpace", "AWS/RDS", "DBInstanceIdentifier", "Minimum", 5368709120),
            ("ApproximateAgeOfOldestMessage", "AWS/SQS", "QueueName", "Maximum", 600),
            ("HTTPCode_Target_5XX_Count", "AWS/ApplicationELB", "LoadBalancer", "Sum", 10),
            ("TargetResponseTime", "AWS/ApplicationELB", "LoadBalancer", "Average", 1),
            ("MemoryUtilization", "AWS/ECS", "ServiceName", "Average", 85)])
        a = m.label(metric.lower().replace("utilization", "_utilization").replace("_count", ""))
        blocks.append(Block("resource", ("aws_cloudwatch_metric_alarm", a), [
            ("alarm_name", f"${{local.name}}-{a.replace('_', '-')}"),
            ("alarm_description", f"{metric} of {m.name} is past its threshold"),
            ("namespace", ns), ("metric_name", metric), ("statistic", stat), ("period", 300),
            ("evaluation_periods", Raw("var.alarm_evaluation_periods")), ("threshold", thr),
            ("comparison_operator", "LessThanThreshold" if metric == "FreeStorageSpace" else "GreaterThanThreshold"),
            ("treat_missing_data", "notBreaching"), None,
            ("dimensions", {dim: f"${{local.name}}-{m.rng.choice(NOUNS)}"}), None,
            ("alarm_actions", [Raw(f"aws_sns_topic.{topic}.arn")]), ("ok_actions", [Raw(f"aws_sns_topic.{topic}.arn")]),
            ("tags", tags())]))
    m.output(f"{topic}_topic_arn", f"aws_sns_topic.{topic}.arn", "SNS topic alarms notify")
    return blocks


def gen_queue(m: Module) -> list:
    m.var("max_receive_count"), m.var("visibility_timeout_seconds"), m.var("message_retention_seconds")
    q = m.label(m.rng.choice(["events", "jobs", "notifications", "ingest", "commands"]))
    dlq = m.label(f"{q}_dlq")
    blocks = [
        Block("resource", ("aws_sqs_queue", dlq), [("name", f"${{local.name}}-{q}-dlq"),
                                                   ("message_retention_seconds", 1209600),
                                                   ("sqs_managed_sse_enabled", True), ("tags", tags())]),
        Block("resource", ("aws_sqs_queue", q), [
            ("name", f"${{local.name}}-{q}"), ("visibility_timeout_seconds", Raw("var.visibility_timeout_seconds")),
            ("message_retention_seconds", Raw("var.message_retention_seconds")), ("receive_wait_time_seconds", 20),
            ("sqs_managed_sse_enabled", True), None,
            ("redrive_policy", Raw("jsonencode(" + _hcl_obj({"deadLetterTargetArn": Raw(f"aws_sqs_queue.{dlq}.arn"),
                                                              "maxReceiveCount": Raw("var.max_receive_count")}, 1) + ")")),
            None, ("tags", tags())]),
        Block("resource", ("aws_sqs_queue_policy", q), [
            ("queue_url", Raw(f"aws_sqs_queue.{q}.id")),
            ("policy", Raw("jsonencode(" + _hcl_obj({"Version": "2012-10-17", "Statement": [
                {"Sid": "AllowSnsPublish", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                 "Action": "sqs:SendMessage", "Resource": Raw(f"aws_sqs_queue.{q}.arn"),
                 "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:${local.name}-*"}}}]}, 1) + ")"))]),
    ]
    if m.rng.random() < 0.6:
        t = m.label(m.rng.choice(NOUNS))
        gsi = m.rng.random() < 0.6
        body: list = [("name", f"${{local.name}}-{t.replace('_', '-')}"), ("billing_mode", "PAY_PER_REQUEST"),
                      ("hash_key", "pk"), ("range_key", "sk"), None,
                      Block("attribute", (), [("name", "pk"), ("type", "S")]), None,
                      Block("attribute", (), [("name", "sk"), ("type", "S")]), None]
        if gsi:
            body += [Block("attribute", (), [("name", "gsi1pk"), ("type", "S")]), None,
                     Block("global_secondary_index", (), [("name", "gsi1"), ("hash_key", "gsi1pk"), ("range_key", "sk"),
                                                          ("projection_type", "ALL")]), None]
        body += [Block("point_in_time_recovery", (), [("enabled", True)]), None,
                 Block("server_side_encryption", (), [("enabled", True), ("kms_key_arn", Raw("var.kms_key_arn"))]), None,
                 Block("ttl", (), [("attribute_name", "expires_at"), ("enabled", True)]), None, ("tags", tags())]
        m.var("kms_key_arn")
        blocks.append(Block("resource", ("aws_dynamodb_table", t), body))
        m.output(f"{t}_table_name", f"aws_dynamodb_table.{t}.name", "Name of the DynamoDB table")
    m.output(f"{q}_queue_url", f"aws_sqs_queue.{q}.id", f"URL of the {q} queue")
    m.output(f"{q}_queue_arn", f"aws_sqs_queue.{q}.arn", f"ARN of the {q} queue")
    return blocks


def gen_alb(m: Module) -> list:
    for v in ("subnet_ids", "vpc_id", "certificate_arn", "container_port", "health_check_path", "deletion_protection",
              "security_group_ids"):
        m.var(v)
    lb = m.label("public")
    tg = m.label("app")
    https, http = m.label("https"), m.label("http")
    return [
        Block("resource", ("aws_lb", lb), [
            ("name", f"${{local.name}}-{lb}"), ("internal", False), ("load_balancer_type", "application"),
            ("security_groups", Raw("var.security_group_ids")), ("subnets", Raw("var.subnet_ids")),
            ("drop_invalid_header_fields", True), ("enable_deletion_protection", Raw("var.deletion_protection")), None,
            Block("access_logs", (), [("bucket", "${var.environment}-alb-access-logs"), ("prefix", m.name), ("enabled", True)]),
            None, ("tags", tags())]),
        Block("resource", ("aws_lb_target_group", tg), [
            ("name_prefix", "app-"), ("port", Raw("var.container_port")), ("protocol", "HTTP"), ("target_type", "ip"),
            ("vpc_id", Raw("var.vpc_id")), ("deregistration_delay", 30), None,
            Block("health_check", (), [("path", Raw("var.health_check_path")), ("matcher", "200-399"), ("interval", 15),
                                       ("timeout", 5), ("healthy_threshold", 2), ("unhealthy_threshold", 3)]),
            None, ("tags", tags()), None, Block("lifecycle", (), [("create_before_destroy", True)])]),
        Block("resource", ("aws_lb_listener", https), [
            ("load_balancer_arn", Raw(f"aws_lb.{lb}.arn")), ("port", 443), ("protocol", "HTTPS"),
            ("ssl_policy", "ELBSecurityPolicy-TLS13-1-2-2021-06"), ("certificate_arn", Raw("var.certificate_arn")), None,
            Block("default_action", (), [("type", "forward"), ("target_group_arn", Raw(f"aws_lb_target_group.{tg}.arn"))])]),
        Block("resource", ("aws_lb_listener", http), [
            ("load_balancer_arn", Raw(f"aws_lb.{lb}.arn")), ("port", 80), ("protocol", "HTTP"), None,
            Block("default_action", (), [("type", "redirect"), None,
                                         Block("redirect", (), [("port", "443"), ("protocol", "HTTPS"),
                                                                ("status_code", "HTTP_301")])])]),
    ]


def gen_ecs(m: Module) -> list:
    for v in ("container_image", "container_port", "desired_count", "subnet_ids", "security_group_ids", "cpu", "memory",
              "log_retention_days", "region", "execution_role_arn", "task_role_arn"):
        m.var(v)
    svc = m.label("service")
    lg = m.label("ecs")
    container = {"name": m.name, "image": Raw("var.container_image"), "essential": True,
                 "portMappings": [{"containerPort": Raw("var.container_port"), "protocol": "tcp"}],
                 "environment": [{"name": "ENVIRONMENT", "value": Raw("var.environment")},
                                 {"name": "SERVICE", "value": m.name}],
                 "logConfiguration": {"logDriver": "awslogs", "options": {
                     "awslogs-group": Raw(f"aws_cloudwatch_log_group.{lg}.name"),
                     "awslogs-region": Raw("var.region"), "awslogs-stream-prefix": m.name}},
                 "readonlyRootFilesystem": True}
    return [
        Block("resource", ("aws_cloudwatch_log_group", lg), [("name", f"/ecs/${{local.name}}"),
                                                             ("retention_in_days", Raw("var.log_retention_days")), ("tags", tags())]),
        Block("resource", ("aws_ecs_cluster", svc), [
            ("name", "${local.name}"), None,
            Block("setting", (), [("name", "containerInsights"), ("value", "enabled")]), None, ("tags", tags())]),
        Block("resource", ("aws_ecs_task_definition", svc), [
            ("family", "${local.name}"), ("requires_compatibilities", ["FARGATE"]), ("network_mode", "awsvpc"),
            ("cpu", Raw("var.cpu")), ("memory", Raw("var.memory")),
            ("execution_role_arn", Raw("var.execution_role_arn")), ("task_role_arn", Raw("var.task_role_arn")), None,
            ("container_definitions", Raw("jsonencode(" + _hcl_obj([container], 1) + ")")), None,
            Block("runtime_platform", (), [("operating_system_family", "LINUX"), ("cpu_architecture", "ARM64")]),
            None, ("tags", tags())]),
        Block("resource", ("aws_ecs_service", svc), [
            ("name", "${local.name}"), ("cluster", Raw(f"aws_ecs_cluster.{svc}.id")),
            ("task_definition", Raw(f"aws_ecs_task_definition.{svc}.arn")), ("desired_count", Raw("var.desired_count")),
            ("launch_type", "FARGATE"), ("enable_execute_command", False), ("propagate_tags", "SERVICE"), None,
            Block("network_configuration", (), [("subnets", Raw("var.subnet_ids")),
                                                ("security_groups", Raw("var.security_group_ids")),
                                                ("assign_public_ip", False)]), None,
            Block("deployment_circuit_breaker", (), [("enable", True), ("rollback", True)]), None,
            Block("lifecycle", (), [("ignore_changes", [Raw("desired_count")])]), None, ("tags", tags())]),
    ]


def gen_kms_other(m: Module) -> list:
    """A customer managed key for S3/RDS/SNS (not CloudTrail): keys without trails."""
    k = m.label(m.rng.choice(["data", "backups", "queue", "secrets"]))
    m.data_sources.add("aws_caller_identity")
    return [
        Block("resource", ("aws_kms_key", k), [
            ("description", f"{k.title()} encryption for {m.name}"), ("deletion_window_in_days", 30),
            ("enable_key_rotation", True),
            ("policy", Raw("jsonencode(" + _hcl_obj({"Version": "2012-10-17", "Statement": [
                {"Sid": "EnableIAMUserPermissions", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "AllowServiceUse", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/${local.name}-app"},
                 "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                 "Resource": "*"}]}, 1) + ")")), None, ("tags", tags())]),
        Block("resource", ("aws_kms_alias", k), [("name", f"alias/${{local.name}}-{k}"),
                                                 ("target_key_id", Raw(f"aws_kms_key.{k}.key_id"))]),
    ]


def gen_data(m: Module) -> list:
    m.data_sources.update({"aws_caller_identity", "aws_region", "aws_partition"})
    ami = m.label("al2023")
    az = m.label("available")
    ssm = m.label(m.rng.choice(["db_password", "api_key", "config"]))
    return [
        Block("data", ("aws_availability_zones", az), [("state", "available"), None,
                                                       Block("filter", (), [("name", "opt-in-status"), ("values", ["opt-in-not-required"])])]),
        Block("data", ("aws_ami", ami), [
            ("most_recent", True), ("owners", ["amazon"]), None,
            Block("filter", (), [("name", "name"), ("values", ["al2023-ami-2023.*-arm64"])]), None,
            Block("filter", (), [("name", "virtualization-type"), ("values", ["hvm"])])]),
        Block("data", ("aws_ssm_parameter", ssm), [("name", f"/${{var.environment}}/{m.name}/{ssm}")]),
    ]


def gen_shared_call(m: Module, shared: list[str]) -> list:
    if not shared:
        return []
    name = m.rng.choice(shared)
    lbl = m.label(name.replace("-", "_"))
    rel = "/".join([".."] * m.depth) + f"/modules/{name}"
    m.var("vpc_id"), m.var("subnet_ids")
    body: list = [("source", rel), None, ("name", Raw("local.name")), ("environment", Raw("var.environment")),
                  ("vpc_id", Raw("var.vpc_id")), ("subnet_ids", Raw("var.subnet_ids"))]
    for k in m.pick(["log_retention_days", "alarm_email", "kms_key_arn", "deletion_protection"], m.rng.randint(1, 3)):
        body.append((k, m.var(k)))
    body += [None, ("tags", Raw("local.tags"))]
    m.output(f"{lbl}_id", f"module.{lbl}.id", f"Identifier from the shared {name} module")
    return [Block("module", (lbl,), body)]


def gen_registry_call(m: Module) -> list:
    source, version = m.rng.choice(REGISTRY_MODULES)
    lbl = m.label(source.split("/")[1].replace("-", "_"))
    body: list = [("source", source), ("version", version), None, ("name", Raw("local.name"))]
    if "vpc" in source:
        body += [("cidr", m.var("vpc_cidr")), ("azs", m.var("azs")),
                 ("private_subnets", Raw("[for i, az in var.azs : cidrsubnet(var.vpc_cidr, 4, i)]")),
                 ("enable_nat_gateway", True), ("single_nat_gateway", Raw('var.environment != "prod"'))]
    elif "s3" in source:
        body += [("bucket", f"${{local.name}}-{m.rng.choice(NOUNS)}"), ("versioning", {"enabled": True}),
                 ("attach_deny_insecure_transport_policy", True)]
    else:
        body += [("create", True)]
    body += [None, ("tags", Raw("local.tags"))]
    return [Block("module", (lbl,), body)]


def _hcl_obj(v: Any, ind: int) -> str:
    from writer import value

    return value(v, ind)


ORDINARY = [gen_security_group, gen_iam_role, gen_policy_document, gen_s3, gen_lambda, gen_rds, gen_monitoring,
            gen_queue, gen_alb, gen_ecs, gen_vpc]
FILE_GENERATORS: dict[str, list[Callable]] = {
    "iam.tf": [gen_iam_role, gen_policy_document],
    "network.tf": [gen_vpc, gen_security_group],
    "security_groups.tf": [gen_security_group],
    "s3.tf": [gen_s3],
    "lambda.tf": [gen_lambda],
    "database.tf": [gen_rds, gen_security_group],
    "monitoring.tf": [gen_monitoring],
    "queues.tf": [gen_queue],
    "alb.tf": [gen_alb, gen_security_group],
    "ecs.tf": [gen_ecs],
    "kms.tf": [gen_kms_other, gen_s3],
    "data.tf": [gen_data, gen_policy_document],
}
EXTRA_FILES = ["versions.tf", "iam.tf", "network.tf", "s3.tf", "lambda.tf", "database.tf", "monitoring.tf",
               "queues.tf", "alb.tf", "ecs.tf", "data.tf", "security_groups.tf", "kms.tf"]


def fill(m: Module, gens: list[Callable], target: int, first: Optional[list] = None) -> str:
    """Blocks from ``gens`` until the file reaches ``target`` bytes (never past MAX_TF_BYTES when avoidable)."""
    text = "".join(render(b) + "\n" for b in (first or []))
    tries = 0
    while len(text) < target and tries < 40:
        tries += 1
        snapshot = (set(m.labels), list(m.outputs), dict(m.vars), set(m.data_sources))
        blocks = m.rng.choice(gens)(m)
        chunk = "".join(render(b) + "\n" for b in blocks)
        if not chunk:
            continue
        if len(text) + len(chunk) > MAX_TF_BYTES - 512 and len(text) >= 2 * KB:  # room for the data sources
            m.labels, m.outputs, m.vars, m.data_sources = snapshot
            break
        text += chunk
    return text.rstrip("\n") + "\n"


def header_comment(m: Module, what: str) -> str:
    return (f"# {m.area}/{m.env}/{m.name}: {what}\n"
            f"# Owned by the {m.area} team. Changes go through the {m.area}-infra review.\n\n")


def versions_tf(m: Module, region: str) -> str:
    blocks = [
        Block("terraform", (), [
            ("required_version", ">= 1.6.0"), None,
            Block("required_providers", (), [
                ("aws", {"source": "hashicorp/aws", "version": "~> 5.60"}),
                ("random", {"source": "hashicorp/random", "version": "~> 3.6"})]), None,
            Block("backend", ("s3",), [
                ("bucket", f"acme-terraform-state-{m.env}"), ("key", f"{m.area}/{m.env}/{m.name}/terraform.tfstate"),
                ("region", region), ("dynamodb_table", "terraform-locks"), ("encrypt", True)])]),
        Block("provider", ("aws",), [
            ("region", Raw("var.region")), None,
            Block("default_tags", (), [("tags", {"Environment": m.env, "Team": m.area, "Service": m.name,
                                                 "ManagedBy": "terraform", "CostCenter": f"cc-{m.rng.randrange(1000, 9999)}"})]),
            None, Block("assume_role", (), [("role_arn", f"arn:aws:iam::{m.rng.randrange(10**11, 10**12):012d}:role/terraform-{m.env}"),
                                            ("session_name", f"terraform-{m.area}")])]),
        Block("provider", ("aws",), [("alias", "us_east_1"), ("region", "us-east-1"), None,
                                     Block("default_tags", (), [("tags", {"Environment": m.env, "Team": m.area,
                                                                          "Service": m.name, "ManagedBy": "terraform"})])]),
    ]
    m.var("region")
    # providers, state and the lookups the module makes (AMIs, zones, parameters): 2-3 KB
    return header_comment(m, "providers, state and lookups") + fill(m, [gen_data], 2 * KB + m.rng.randrange(0, KB), blocks)


def variables_tf(m: Module, target: int) -> str:
    out = []
    names = sorted(m.vars)
    for n in names:
        typ, default, desc = m.vars[n]
        out.append(render(variable_block(n, typ, default, desc, m.rng)))
    filler = [f for f in FILLER_VARS if f[0] not in m.vars]
    m.rng.shuffle(filler)
    text = "\n".join(out)
    for name, typ, default, desc in filler:
        if len(text) >= target:
            break
        block = render(variable_block(name, typ, default, desc, m.rng))
        if len(text) + len(block) > MAX_TF_BYTES:
            break
        text += "\n" + block
    return text


def outputs_tf(m: Module, target: int) -> str:
    text = ""
    for name, expr, desc in m.outputs:
        block = render(Block("output", (name,), [("description", desc), ("value", Raw(expr))]))
        if len(text) + len(block) > MAX_TF_BYTES:
            break
        text += ("\n" if text else "") + block
    # what most modules also export: naming and tagging, for the modules and stacks downstream
    for name, expr, desc in (("name", "local.name", "Name prefix of the module's resources"),
                             ("tags", "local.tags", "Tags the module puts on every resource"),
                             ("environment", "var.environment", "Environment the module was deployed to")):
        if len(text) >= target and text:
            break
        if any(o[0] == name for o in m.outputs):
            continue
        if expr.startswith("var."):
            m.var(expr[4:])
        text += ("\n" if text else "") + render(Block("output", (name,), [("description", desc), ("value", Raw(expr))]))
    return text


def data_sources_tf(m: Module) -> list:
    return [Block("data", (d, "current"), []) for d in sorted(m.data_sources)]


# ====================================================================== CloudTrail modules


def trail_key_document(m: Module, variant: str, doc: str, account: str, partition: str, trail_arn: str) -> Block:
    """data "aws_iam_policy_document" for the trail's key, per variant."""
    cloudtrail = Block("principals", (), [("type", "Service"), ("identifiers", ["cloudtrail.amazonaws.com"])])
    statements: list = [Block("statement", (), [
        ("sid", "EnableIAMUserPermissions"), ("actions", ["kms:*"]), ("resources", ["*"]), None,
        Block("principals", (), [("type", "AWS"), ("identifiers", [f"arn:{partition}:iam::{account}:root"])])])]
    if variant != "bad_missing_describe_key":
        statements.append(Block("statement", (), [("sid", "AllowCloudTrailToDescribeKey"), ("actions", ["kms:DescribeKey"]),
                                                  ("resources", ["*"]), None, cloudtrail]))
    enc: list = [("sid", "AllowCloudTrailToEncryptLogs"), ("actions", ["kms:GenerateDataKey*"]), ("resources", ["*"]), None,
                 cloudtrail]
    if variant == "bad_stringequals_wildcard":
        enc = [("sid", "AllowCloudTrail"), ("actions", ["kms:GenerateDataKey*", "kms:DescribeKey"]), ("resources", ["*"]),
               None, cloudtrail, None,
               Block("condition", (), [("test", "StringEquals"), ("variable", "kms:EncryptionContext:aws:cloudtrail:arn"),
                                       ("values", [f"arn:{partition}:cloudtrail:*:{account}:trail/*"])])]
    elif variant != "warn_unscoped_grant":
        enc += [None, Block("condition", (), [("test", "StringLike"), ("variable", "kms:EncryptionContext:aws:cloudtrail:arn"),
                                              ("values", [f"arn:{partition}:cloudtrail:*:{account}:trail/*"])]),
                None, Block("condition", (), [("test", "StringEquals"), ("variable", "aws:SourceArn"), ("values", [trail_arn])])]
    statements.append(Block("statement", (), enc))
    if variant != "bad_no_reader_grant":
        m.var("log_reader_roles")
        statements.append(Block("statement", (), [
            ("sid", "AllowLogReadersToDecrypt"), ("actions", ["kms:Decrypt", "kms:ReEncryptFrom"]), ("resources", ["*"]), None,
            Block("principals", (), [("type", "AWS"), ("identifiers", Raw(
                f'[for r in var.log_reader_roles : "arn:{partition}:iam::{account}:role/${{r}}"]'))]), None,
            Block("condition", (), [("test", "Null"), ("variable", "kms:EncryptionContext:aws:cloudtrail:arn"), ("values", ["false"])]),
            None,
            Block("condition", (), [("test", "StringEquals"), ("variable", "kms:CallerAccount"), ("values", [account])])]))
    statements.append(Block("statement", (), [
        ("sid", "AllowCloudWatchLogs"), ("actions", ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                                                     "kms:Describe*"]), ("resources", ["*"]), None,
        Block("principals", (), [("type", "Service"), ("identifiers", [f"logs.${{data.aws_region.current.name}}.amazonaws.com"])]),
        None,
        Block("condition", (), [("test", "ArnLike"), ("variable", "kms:EncryptionContext:aws:logs:arn"),
                                ("values", [f"arn:{partition}:logs:${{data.aws_region.current.name}}:{account}:log-group:*"])])]))
    body: list = []
    for s in statements:
        body += [s, None]
    body.pop()
    return Block("data", ("aws_iam_policy_document", doc), body)


def trail_key_jsonencode(account: str, partition: str, trail_arn: str) -> str:
    return "jsonencode(" + _hcl_obj({"Version": "2012-10-17", "Statement": [
        {"Sid": "EnableIAMUserPermissions", "Effect": "Allow", "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "AllowCloudTrailToDescribeKey", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "kms:DescribeKey", "Resource": "*"},
        {"Sid": "AllowCloudTrailToEncryptLogs", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "kms:GenerateDataKey*", "Resource": "*",
         "Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{partition}:cloudtrail:*:{account}:trail/*"},
                       "StringEquals": {"aws:SourceArn": trail_arn}}},
        {"Sid": "AllowLogReadersToDecrypt", "Effect": "Allow",
         "Principal": {"AWS": Raw(f'[for r in var.log_reader_roles : "arn:{partition}:iam::{account}:role/${{r}}"]')},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"Null": {"kms:EncryptionContext:aws:cloudtrail:arn": "false"}}},
    ]}, 1) + ")"


def trail_blocks(m: Module, variant: str, key_ref: Optional[str]) -> list:
    """The trail, its log bucket and bucket policy, its CloudWatch Logs group and role."""
    m.data_sources.update({"aws_caller_identity", "aws_partition", "aws_region"})
    m.var("trail_name"), m.var("log_retention_days")
    account = "${data.aws_caller_identity.current.account_id}"
    partition = "${data.aws_partition.current.partition}"
    bucket = m.label("trail_logs")
    lg = m.label("trail")
    role = m.label("trail_cloudwatch")
    doc = m.label("trail_bucket")
    trail = m.label("this")
    trail_body: list = [
        ("name", Raw("var.trail_name")), ("s3_bucket_name", Raw(f"aws_s3_bucket.{bucket}.id")),
        ("s3_key_prefix", "cloudtrail"), ("include_global_service_events", True), ("is_multi_region_trail", True),
        ("enable_log_file_validation", True), ("enable_logging", True)]
    if key_ref is not None:
        trail_body.append(("kms_key_id", Raw(key_ref)))
    trail_body += [
        ("cloud_watch_logs_group_arn", f"${{aws_cloudwatch_log_group.{lg}.arn}}:*"),
        ("cloud_watch_logs_role_arn", Raw(f"aws_iam_role.{role}.arn")), None,
        Block("event_selector", (), [("read_write_type", "All"), ("include_management_events", True), None,
                                     Block("data_resource", (), [("type", "AWS::S3::Object"),
                                                                 ("values", [f"arn:{partition}:s3"])])]),
        None, Block("insight_selector", (), [("insight_type", "ApiCallRateInsight")]), None,
        ("tags", tags()), None, ("depends_on", [Raw(f"aws_s3_bucket_policy.{bucket}")])]
    return [
        Block("resource", ("aws_s3_bucket", bucket), [("bucket", "${local.name}-cloudtrail-logs"), ("force_destroy", False),
                                                       None, ("tags", tags())]),
        Block("resource", ("aws_s3_bucket_public_access_block", bucket), [
            ("bucket", Raw(f"aws_s3_bucket.{bucket}.id")), ("block_public_acls", True), ("block_public_policy", True),
            ("ignore_public_acls", True), ("restrict_public_buckets", True)]),
        Block("data", ("aws_iam_policy_document", doc), [
            Block("statement", (), [("sid", "AWSCloudTrailAclCheck"), ("actions", ["s3:GetBucketAcl"]),
                                    ("resources", [Raw(f"aws_s3_bucket.{bucket}.arn")]), None,
                                    Block("principals", (), [("type", "Service"), ("identifiers", ["cloudtrail.amazonaws.com"])])]),
            None,
            Block("statement", (), [("sid", "AWSCloudTrailWrite"), ("actions", ["s3:PutObject"]),
                                    ("resources", [f"${{aws_s3_bucket.{bucket}.arn}}/cloudtrail/AWSLogs/{account}/*"]), None,
                                    Block("principals", (), [("type", "Service"), ("identifiers", ["cloudtrail.amazonaws.com"])]),
                                    None,
                                    Block("condition", (), [("test", "StringEquals"), ("variable", "s3:x-amz-acl"),
                                                            ("values", ["bucket-owner-full-control"])])])]),
        Block("resource", ("aws_s3_bucket_policy", bucket), [("bucket", Raw(f"aws_s3_bucket.{bucket}.id")),
                                                             ("policy", Raw(f"data.aws_iam_policy_document.{doc}.json"))]),
        Block("resource", ("aws_cloudwatch_log_group", lg), [("name", "/aws/cloudtrail/${var.trail_name}"),
                                                             ("retention_in_days", Raw("var.log_retention_days")), ("tags", tags())]),
        Block("resource", ("aws_iam_role", role), [
            ("name", "${local.name}-cloudtrail-logs"),
            ("assume_role_policy", Raw("jsonencode(" + _hcl_obj({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "sts:AssumeRole"}]}, 1) + ")")),
            ("tags", tags())]),
        Block("resource", ("aws_iam_role_policy", role), [
            ("name", "cloudwatch-logs"), ("role", Raw(f"aws_iam_role.{role}.id")),
            ("policy", Raw("jsonencode(" + _hcl_obj({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                 "Resource": f"${{aws_cloudwatch_log_group.{lg}.arn}}:*"}]}, 1) + ")"))]),
        Block("resource", ("aws_cloudtrail", trail), trail_body),
    ]


def key_blocks(m: Module, variant: str, key: str) -> list:
    account = "${data.aws_caller_identity.current.account_id}"
    partition = "${data.aws_partition.current.partition}"
    region = "${data.aws_region.current.name}"
    m.data_sources.update({"aws_caller_identity", "aws_partition", "aws_region"})
    m.var("trail_name")
    trail_arn = f"arn:{partition}:cloudtrail:{region}:{account}:trail/${{var.trail_name}}"
    blocks = []
    if variant == "good_jsonencode":
        m.var("log_reader_roles")
        policy = Raw(trail_key_jsonencode(account, partition, trail_arn))
    else:
        doc = m.label(f"{key}_key")
        blocks.append(trail_key_document(m, variant, doc, account, partition, trail_arn))
        policy = Raw(f"data.aws_iam_policy_document.{doc}.json")
    blocks += [
        Block("resource", ("aws_kms_key", key), [
            ("description", "CloudTrail logs of ${var.trail_name}"), ("deletion_window_in_days", 30),
            ("enable_key_rotation", True), ("policy", policy), None, ("tags", tags())]),
        Block("resource", ("aws_kms_alias", key), [("name", "alias/cloudtrail-${var.trail_name}"),
                                                   ("target_key_id", Raw(f"aws_kms_key.{key}.key_id"))]),
    ]
    m.labels.add(key)
    return blocks


# ====================================================================== the repository


class Tree:
    """Files to write: relative path -> text (written sorted)."""

    def __init__(self):
        self.files: dict[str, str] = {}

    def add(self, path: str, text: str) -> None:
        assert path not in self.files, path
        self.files[path] = text

    def write(self, out: str, git_marker: bool = True) -> None:
        for rel in sorted(self.files):
            full = os.path.join(out, *rel.split("/"))
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(self.files[rel])
        if git_marker:
            # not a repository: just what tools look for to find the work tree's root
            os.makedirs(os.path.join(out, ".git", "refs", "heads"), exist_ok=True)
            os.makedirs(os.path.join(out, ".git", "objects"), exist_ok=True)
            with open(os.path.join(out, ".git", "HEAD"), "w", encoding="utf-8", newline="\n") as fh:
                fh.write("ref: refs/heads/main\n")


def _file_sizes(rng: random.Random, kind: str) -> int:
    if kind == "main.tf":
        return rng.randrange(5 * KB, 9 * KB)
    if kind in ("variables.tf", "outputs.tf"):
        return rng.randrange(2 * KB, 5 * KB)
    return rng.randrange(2 * KB + 512, 8 * KB)


def _unique_dir(rng: random.Random, used: set, area: str, env: str) -> tuple[str, str]:
    for _ in range(1000):
        name = f"{rng.choice(NOUNS)}-{rng.choice(ROLES)}"
        path = f"{area}/{env}/{name}"
        if path not in used:
            used.add(path)
            return path, name
    n = len(used)
    name = f"{rng.choice(NOUNS)}-{rng.choice(ROLES)}-{n}"
    used.add(f"{area}/{env}/{name}")
    return f"{area}/{env}/{name}", name


def ordinary_module(rng: random.Random, tree: Tree, path: str, name: str, area: str, env: str, nfiles: int,
                    shared: list[str], region: str) -> None:
    depth = path.count("/") + 1
    m = Module(rng, name, env, area, depth)
    extras = rng.sample(EXTRA_FILES, max(0, min(nfiles - 3, len(EXTRA_FILES))))
    texts: dict[str, str] = {}
    first: list = [locals_block(m)]
    if rng.random() < 0.35:
        first += gen_shared_call(m, shared)
    if rng.random() < 0.12:
        first += gen_registry_call(m)
    texts["main.tf"] = header_comment(m, "main resources") + fill(m, ORDINARY, _file_sizes(rng, "main.tf"), first)
    for f in extras:
        if f == "versions.tf":
            texts[f] = versions_tf(m, region)
        else:
            texts[f] = fill(m, FILE_GENERATORS[f], _file_sizes(rng, f))
    # data sources the resources use (once per module, in the first file that is not main.tf, or main.tf)
    if m.data_sources:
        ds = "".join(render(b) for b in data_sources_tf(m))
        host = "data.tf" if "data.tf" in texts else "main.tf"
        texts[host] = texts[host].rstrip("\n") + "\n\n" + ds
    texts["outputs.tf"] = outputs_tf(m, _file_sizes(rng, "outputs.tf"))
    texts["variables.tf"] = variables_tf(m, _file_sizes(rng, "variables.tf"))
    for f, t in texts.items():
        tree.add(f"{path}/{f}", t)


def shared_module(rng: random.Random, tree: Tree, name: str, nfiles: int) -> None:
    m = Module(rng, name, "shared", "platform", 2)
    m.var("name"), m.var("environment"), m.var("vpc_id"), m.var("subnet_ids")
    for k in ("log_retention_days", "alarm_email", "kms_key_arn", "deletion_protection"):
        m.var(k)
    texts = {"main.tf": header_comment(m, "shared module") + fill(m, ORDINARY, _file_sizes(rng, "main.tf"), [locals_block(m)])}
    for f in rng.sample([e for e in EXTRA_FILES if e != "versions.tf"], max(0, nfiles - 3)):
        texts[f] = fill(m, FILE_GENERATORS[f], _file_sizes(rng, f))
    m.output("id", "local.name", "Identifier of what the module created")
    if m.data_sources:
        texts["main.tf"] = texts["main.tf"].rstrip("\n") + "\n\n" + "".join(render(b) for b in data_sources_tf(m))
    texts["outputs.tf"] = outputs_tf(m, _file_sizes(rng, "outputs.tf"))
    texts["variables.tf"] = variables_tf(m, _file_sizes(rng, "variables.tf"))
    for f, t in texts.items():
        tree.add(f"modules/{name}/{f}", t)


def trail_module(rng: random.Random, tree: Tree, path: str, name: str, area: str, env: str, nfiles: int,
                 variant: str, local_kms: bool, region: str, fill_ordinary: bool = True) -> dict:
    """A module with a trail; its key in kms.tf, or in ./modules/kms (3 more files). Returns its manifest entry."""
    depth = path.count("/") + 1
    m = Module(rng, name, env, area, depth)
    texts: dict[str, str] = {}
    first: list = [locals_block(m)]
    if variant == "bad_no_key":
        key_ref = None
    elif variant == "unknown_key_variable":
        m.vars["cloudtrail_kms_key_arn"] = ("string", Ellipsis, "ARN of the organisation's CloudTrail key (shared)")
        key_ref = "var.cloudtrail_kms_key_arn"
    elif local_kms:
        key_ref = "module.kms.key_arn"
        m.var("log_reader_roles")
        first.append(Block("module", ("kms",), [("source", "./modules/kms"), None, ("trail_name", Raw("var.trail_name")),
                                                 ("log_reader_roles", Raw("var.log_reader_roles")), ("tags", Raw("local.tags"))]))
        m.labels.add("kms")
    else:
        key_ref = "aws_kms_key.trail.arn"
    first += trail_blocks(m, variant, key_ref)
    own_key = key_ref == "aws_kms_key.trail.arn"
    if own_key and nfiles <= 3:  # no room for kms.tf: the key goes into main.tf
        first += key_blocks(m, variant, "trail")
        own_key = False
    main_target = _file_sizes(rng, "main.tf") if fill_ordinary else 0
    texts["main.tf"] = header_comment(m, "the account's CloudTrail trail") + fill(m, ORDINARY, main_target, first)
    m.output("trail_arn", "aws_cloudtrail.this.arn", "ARN of the trail")
    if own_key:
        kms_first = key_blocks(m, variant, "trail")
        texts["kms.tf"] = header_comment(m, "the trail's KMS key") + fill(
            m, [gen_kms_other], _file_sizes(rng, "kms.tf") if fill_ordinary else 0, kms_first)
        m.output("kms_key_arn", "aws_kms_key.trail.arn", "ARN of the trail's KMS key")
    room = nfiles - 3 - (1 if "kms.tf" in texts else 0) - (3 if local_kms and key_ref == "module.kms.key_arn" else 0)
    if fill_ordinary and room > 0:
        for f in rng.sample([e for e in EXTRA_FILES if e != "kms.tf"], min(room, len(EXTRA_FILES) - 1)):
            texts[f] = versions_tf(m, region) if f == "versions.tf" else fill(m, FILE_GENERATORS[f], _file_sizes(rng, f))
    if m.data_sources:
        ds = "".join(render(b) for b in data_sources_tf(m))
        host = "data.tf" if "data.tf" in texts else "main.tf"
        texts[host] = texts[host].rstrip("\n") + "\n\n" + ds
    texts["outputs.tf"] = outputs_tf(m, _file_sizes(rng, "outputs.tf") if fill_ordinary else 0)
    texts["variables.tf"] = variables_tf(m, _file_sizes(rng, "variables.tf") if fill_ordinary else 0)
    for f, t in texts.items():
        tree.add(f"{path}/{f}", t)
    files = [f"{path}/{f}" for f in sorted(texts)]
    if key_ref == "module.kms.key_arn":
        files += kms_local_module(rng, tree, f"{path}/modules/kms", variant, name, area, env)
    return {"path": path, "variant": variant, "local_kms": key_ref == "module.kms.key_arn",
            "expected_rules": dict((v, r) for v, _, r in TRAIL_VARIANTS)[variant], "files": files}


def kms_local_module(rng: random.Random, tree: Tree, path: str, variant: str, name: str, area: str, env: str) -> list:
    m = Module(rng, name, env, area, path.count("/") + 1)
    m.var("tags"), m.var("log_reader_roles")  # the caller passes both, whatever the policy uses
    blocks = key_blocks(m, variant, "this")
    local = Block("locals", (), [("name", "${var.trail_name}-key"), ("tags", Raw('merge(var.tags, { Purpose = "cloudtrail" })'))])
    texts = {
        "main.tf": "# The KMS key of the trail, and its key policy.\n\n" + "".join(render(b) + "\n" for b in [local] + blocks)
        + "".join(render(b) for b in data_sources_tf(m)),
        "variables.tf": variables_tf(m, 0),
        "outputs.tf": render(Block("output", ("key_arn",), [("description", "ARN of the key"), ("value", Raw("aws_kms_key.this.arn"))]))
        + "\n" + render(Block("output", ("key_id",), [("description", "Identifier of the key"), ("value", Raw("aws_kms_key.this.key_id"))]))
        + "\n" + render(Block("output", ("alias_arn",), [("description", "ARN of the key's alias"), ("value", Raw("aws_kms_alias.this.arn"))])),
    }
    for f, t in texts.items():
        tree.add(f"{path}/{f}", t)
    return [f"{path}/{f}" for f in sorted(texts)]


def _variant(rng: random.Random) -> str:
    names = [v for v, _, _ in TRAIL_VARIANTS]
    weights = [w for _, w, _ in TRAIL_VARIANTS]
    return rng.choices(names, weights)[0]


def gitignore() -> str:
    return ".terraform/\n*.tfstate\n*.tfstate.*\n.terraform.lock.hcl\ncrash.log\n*.tfplan\n"


def plan_terraform(files: int, trail_percent: float, seed: int) -> tuple[Tree, dict]:
    rng = random.Random(f"terraform:{seed}")
    tree = Tree()
    sizes: list[int] = []
    remaining = files
    while remaining > 0:
        k = rng.randint(3, 8)
        if remaining <= 8 or remaining - k < 3:
            k = remaining if remaining <= 8 else remaining - 3
        sizes.append(k)
        remaining -= k
    n_modules = len(sizes)
    n_shared = min(len(SHARED_MODULES), max(0, n_modules // 40)) if n_modules >= 20 else 0
    n_trails = 0
    if trail_percent > 0:
        n_trails = max(1, round(n_modules * trail_percent / 100.0))
        n_trails = min(n_trails, n_modules - n_shared)
    root_indexes = list(range(n_shared, n_modules))
    trail_indexes = set(rng.sample(root_indexes, n_trails))
    shared = SHARED_MODULES[:n_shared]
    used: set = set()
    trails = []
    ordinary = []
    for i, k in enumerate(sizes):
        region = rng.choice(REGIONS)
        if i < n_shared:
            shared_module(rng, tree, shared[i], k)
            continue
        area, env = rng.choice(AREAS), rng.choice(ENVS)
        path, name = _unique_dir(rng, used, area, env)
        if i in trail_indexes:
            variant = _variant(rng)
            local_kms = k >= 6 and rng.random() < 0.6 and variant not in ("bad_no_key", "unknown_key_variable")
            trails.append(trail_module(rng, tree, path, name, area, env, k, variant, local_kms, region))
        else:
            ordinary_module(rng, tree, path, name, area, env, k, shared, region)
            ordinary.append(path)
    tree.add(".gitignore", gitignore())
    tree.add("README.md", "# infrastructure\n\nSynthetic Terraform monorepo generated by cloudtrail-kms-lint's bench/generate.py "
                          f"(files={files}, trail_percent={trail_percent}, seed={seed}).\n")
    tf_count = sum(1 for p in tree.files if p.endswith(".tf"))
    manifest = {"kind": "terraform", "files": files, "trail_percent": trail_percent, "seed": seed,
                "tf_files": tf_count, "modules": n_modules, "shared_modules": n_shared, "trail_modules": trails,
                "ordinary_modules": len(ordinary),
                "precommit_trail_file": (trails[0]["path"] + "/main.tf") if trails else None,
                "precommit_plain_file": (ordinary[len(ordinary) // 2] + "/main.tf") if ordinary else None,
                "bytes": sum(len(t.encode()) for t in tree.files.values())}
    return tree, manifest


def plan_dense(modules: int, seed: int) -> tuple[Tree, dict]:
    rng = random.Random(f"dense:{seed}")
    tree = Tree()
    used: set = set()
    trails = []
    for i in range(modules):
        area, env = rng.choice(AREAS), rng.choice(ENVS)
        path, name = _unique_dir(rng, used, f"accounts/{area}", env)
        variant = _variant(rng)
        local_kms = False
        trails.append(trail_module(rng, tree, path, name, area, env, 4, variant, local_kms, rng.choice(REGIONS),
                                   fill_ordinary=False))
    tree.add(".gitignore", gitignore())
    tree.add("README.md", f"# trails\n\nSynthetic dense repository: {modules} modules, each a CloudTrail trail, its KMS key "
                          f"and key policy (seed={seed}).\n")
    tf_count = sum(1 for p in tree.files if p.endswith(".tf"))
    manifest = {"kind": "dense", "modules": modules, "seed": seed, "tf_files": tf_count, "trail_modules": trails,
                "precommit_trail_file": trails[0]["path"] + "/main.tf" if trails else None,
                "bytes": sum(len(t.encode()) for t in tree.files.values())}
    return tree, manifest


# ====================================================================== CloudFormation


def _cfn_tags(name: str, extra: Optional[dict] = None) -> list:
    t = [{"Key": "Name", "Value": Tag("Sub", f"${{AWS::StackName}}-{name}")},
         {"Key": "Environment", "Value": Tag("Ref", "Environment")}]
    for k, v in (extra or {}).items():
        t.append({"Key": k, "Value": v})
    return t


def cfn_resources(rng: random.Random, res: dict, outputs: dict, label: Callable[[str], str]) -> None:
    kind = rng.choice(["vpc", "sg", "role", "bucket", "lambda", "queue", "table", "alarm", "topic", "loggroup"])
    if kind == "vpc":
        vpc = label("Vpc")
        res[vpc] = {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": Tag("Ref", "VpcCidr"), "EnableDnsHostnames": True,
                                                            "EnableDnsSupport": True, "Tags": _cfn_tags("vpc")}}
        for i in range(rng.randint(2, 3)):
            sn = label(f"PrivateSubnet{i + 1}")
            res[sn] = {"Type": "AWS::EC2::Subnet", "Properties": {
                "VpcId": Tag("Ref", vpc), "CidrBlock": Tag("Select", [i, Tag("Cidr", [Tag("Ref", "VpcCidr"), 6, 8])]),
                "AvailabilityZone": Tag("Select", [i, Tag("GetAZs", "")]), "MapPublicIpOnLaunch": False,
                "Tags": _cfn_tags(f"private-{i + 1}", {"Tier": "private"})}}
            outputs[sn] = {"Description": f"Private subnet {i + 1}", "Value": Tag("Ref", sn),
                           "Export": {"Name": Tag("Sub", f"${{AWS::StackName}}-{sn}")}}
        igw = label("InternetGateway")
        res[igw] = {"Type": "AWS::EC2::InternetGateway", "Properties": {"Tags": _cfn_tags("igw")}}
        att = label("GatewayAttachment")
        res[att] = {"Type": "AWS::EC2::VPCGatewayAttachment", "Properties": {"VpcId": Tag("Ref", vpc),
                                                                             "InternetGatewayId": Tag("Ref", igw)}}
        outputs[vpc] = {"Description": "The VPC", "Value": Tag("Ref", vpc),
                        "Export": {"Name": Tag("Sub", f"${{AWS::StackName}}-{vpc}")}}
    elif kind == "sg":
        sg = label("SecurityGroup")
        ingress = []
        for port, what in rng.sample([(443, "HTTPS"), (80, "HTTP"), (5432, "PostgreSQL"), (6379, "Redis"), (8080, "App")],
                                     rng.randint(1, 3)):
            ingress.append({"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "CidrIp": "10.0.0.0/8", "Description": what})
        res[sg] = {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": Tag("Sub", "Traffic to ${AWS::StackName}"), "VpcId": Tag("Ref", "VpcId"),
            "SecurityGroupIngress": ingress,
            "SecurityGroupEgress": [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "Anywhere"}],
            "Tags": _cfn_tags("sg")}}
        outputs[sg] = {"Description": "Security group", "Value": Tag("GetAtt", f"{sg}.GroupId")}
    elif kind == "role":
        role = label("ServiceRole")
        service = rng.choice(["lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "states.amazonaws.com"])
        statements = []
        for i in range(rng.randint(2, 4)):
            acts = rng.sample(S3_ACTIONS + DDB_ACTIONS + SQS_ACTIONS, rng.randint(2, 5))
            statements.append({"Sid": f"Access{i}", "Effect": "Allow", "Action": acts,
                               "Resource": [Tag("Sub", f"arn:${{AWS::Partition}}:s3:::${{AWS::StackName}}-{rng.choice(NOUNS)}/*"),
                                            Tag("Sub", f"arn:${{AWS::Partition}}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/{rng.choice(NOUNS)}")]})
        res[role] = {"Type": "AWS::IAM::Role", "Properties": {
            "Description": Tag("Sub", f"Role for {service} in ${{AWS::StackName}}"),
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [Tag("Sub", "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")],
            "Policies": [{"PolicyName": "service-access", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}],
            "Tags": _cfn_tags("role")}}
        outputs[role] = {"Description": "Service role", "Value": Tag("GetAtt", f"{role}.Arn")}
    elif kind == "bucket":
        b = label("Bucket")
        res[b] = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                                                                         "BucketKeyEnabled": True}]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
                                               "RestrictPublicBuckets": True},
            "LifecycleConfiguration": {"Rules": [{"Id": "expire-old-versions", "Status": "Enabled",
                                                  "NoncurrentVersionExpiration": {"NoncurrentDays": 90}},
                                                 {"Id": "transition", "Status": "Enabled",
                                                  "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]}]},
            "Tags": _cfn_tags("bucket")}}
        bp = label("BucketPolicy")
        res[bp] = {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": Tag("Ref", b), "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [
                {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [Tag("GetAtt", f"{b}.Arn"), Tag("Sub", f"${{{b}.Arn}}/*")],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}}
        outputs[b] = {"Description": "Bucket name", "Value": Tag("Ref", b)}
    elif kind == "lambda":
        fn = label("Function")
        role = label("FunctionRole")
        res[role] = {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [Tag("Sub", "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")]}}
        res[fn] = {"Type": "AWS::Lambda::Function", "Properties": {
            "Description": Tag("Sub", "Handler of ${AWS::StackName}"), "Runtime": rng.choice(["python3.12", "python3.13", "nodejs22.x"]),
            "Handler": "index.handler", "Role": Tag("GetAtt", f"{role}.Arn"), "MemorySize": rng.choice([256, 512, 1024]),
            "Timeout": rng.choice([10, 30, 60]), "Architectures": ["arm64"], "TracingConfig": {"Mode": "Active"},
            "Code": {"S3Bucket": Tag("Sub", "${Environment}-lambda-artifacts"), "S3Key": Tag("Sub", f"${{AWS::StackName}}/{fn}.zip")},
            "Environment": {"Variables": {"ENVIRONMENT": Tag("Ref", "Environment"), "LOG_LEVEL": "INFO",
                                          "TABLE_NAME": Tag("Sub", f"${{AWS::StackName}}-{rng.choice(NOUNS)}")}},
            "Tags": _cfn_tags("function")}}
        lg = label("FunctionLogGroup")
        res[lg] = {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": Tag("Sub", f"/aws/lambda/${{{fn}}}"),
                                                                 "RetentionInDays": Tag("If", ["IsProd", 365, 30])}}
        outputs[fn] = {"Description": "Function ARN", "Value": Tag("GetAtt", f"{fn}.Arn")}
    elif kind == "queue":
        dlq = label("DeadLetterQueue")
        q = label("Queue")
        res[dlq] = {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}}
        res[q] = {"Type": "AWS::SQS::Queue", "Properties": {
            "VisibilityTimeout": 60, "ReceiveMessageWaitTimeSeconds": 20, "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"deadLetterTargetArn": Tag("GetAtt", f"{dlq}.Arn"), "maxReceiveCount": 5},
            "Tags": _cfn_tags("queue")}}
        outputs[q] = {"Description": "Queue URL", "Value": Tag("Ref", q)}
    elif kind == "table":
        t = label("Table")
        res[t] = {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True}, "Tags": _cfn_tags("table")}}
        outputs[t] = {"Description": "Table name", "Value": Tag("Ref", t)}
    elif kind == "alarm":
        topic = label("AlarmTopic")
        res[topic] = {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns"}}
        for _ in range(rng.randint(1, 3)):
            a = label("Alarm")
            res[a] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
                "AlarmDescription": Tag("Sub", "Errors in ${AWS::StackName}"), "Namespace": "AWS/Lambda",
                "MetricName": "Errors", "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 3, "Threshold": 5,
                "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
                "Dimensions": [{"Name": "FunctionName", "Value": Tag("Sub", f"${{AWS::StackName}}-{rng.choice(NOUNS)}")}],
                "AlarmActions": [Tag("Ref", topic)]}}
    elif kind == "topic":
        topic = label("Topic")
        res[topic] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": Tag("Sub", f"${{AWS::StackName}}-{rng.choice(NOUNS)}"),
                                                                "KmsMasterKeyId": "alias/aws/sns", "Tags": _cfn_tags("topic")}}
        outputs[topic] = {"Description": "Topic ARN", "Value": Tag("Ref", topic)}
    else:
        lg = label("LogGroup")
        res[lg] = {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": Tag("Sub", f"/${{Environment}}/${{AWS::StackName}}/{rng.choice(NOUNS)}-{lg.lower()}"),
            "RetentionInDays": Tag("If", ["IsProd", 365, 30])}}


def cfn_trail(rng: random.Random, res: dict, outputs: dict, variant: str) -> None:
    account, partition, region = "${AWS::AccountId}", "${AWS::Partition}", "${AWS::Region}"
    statements: list = [{"Sid": "EnableIAMUserPermissions", "Effect": "Allow",
                         "Principal": {"AWS": Tag("Sub", f"arn:{partition}:iam::{account}:root")}, "Action": "kms:*", "Resource": "*"}]
    if variant != "bad_missing_describe_key":
        statements.append({"Sid": "AllowCloudTrailToDescribeKey", "Effect": "Allow",
                           "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:DescribeKey", "Resource": "*"})
    enc: dict = {"Sid": "AllowCloudTrailToEncryptLogs", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                 "Action": "kms:GenerateDataKey*", "Resource": "*"}
    if variant == "bad_stringequals_wildcard":
        enc["Condition"] = {"StringEquals": {"kms:EncryptionContext:aws:cloudtrail:arn": Tag("Sub", f"arn:{partition}:cloudtrail:*:{account}:trail/*")}}
    elif variant != "warn_unscoped_grant":
        enc["Condition"] = {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": Tag("Sub", f"arn:{partition}:cloudtrail:*:{account}:trail/*")},
                            "StringEquals": {"aws:SourceArn": Tag("Sub", f"arn:{partition}:cloudtrail:{region}:{account}:trail/${{TrailName}}")}}
    statements.append(enc)
    if variant != "bad_no_reader_grant":
        statements.append({"Sid": "AllowLogReadersToDecrypt", "Effect": "Allow",
                           "Principal": {"AWS": Tag("Sub", f"arn:{partition}:iam::{account}:role/${{LogReaderRoleName}}")},
                           "Action": "kms:Decrypt", "Resource": "*",
                           "Condition": {"Null": {"kms:EncryptionContext:aws:cloudtrail:arn": "false"}}})
    res["TrailKey"] = {"Type": "AWS::KMS::Key", "Properties": {"Description": "CloudTrail log encryption", "EnableKeyRotation": True,
                                                               "KeyPolicy": {"Version": "2012-10-17", "Statement": statements}}}
    res["TrailKeyAlias"] = {"Type": "AWS::KMS::Alias", "Properties": {"AliasName": Tag("Sub", "alias/cloudtrail-${TrailName}"),
                                                                      "TargetKeyId": Tag("Ref", "TrailKey")}}
    res["TrailBucket"] = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": Tag("GetAtt", "TrailKey.Arn")}}]},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
                                           "RestrictPublicBuckets": True}}}
    res["TrailBucketPolicy"] = {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": Tag("Ref", "TrailBucket"), "PolicyDocument": {
        "Version": "2012-10-17", "Statement": [
            {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:GetBucketAcl", "Resource": Tag("GetAtt", "TrailBucket.Arn")},
            {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:PutObject", "Resource": Tag("Sub", "${TrailBucket.Arn}/AWSLogs/${AWS::AccountId}/*"),
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}]}}}
    props: dict = {"TrailName": Tag("Ref", "TrailName"), "IsLogging": True, "IsMultiRegionTrail": True,
                   "IncludeGlobalServiceEvents": True, "EnableLogFileValidation": True, "S3BucketName": Tag("Ref", "TrailBucket")}
    if variant != "bad_no_key":
        props["KMSKeyId"] = Tag("Ref", "TrailKeyAlias") if rng.random() < 0.5 else Tag("GetAtt", "TrailKey.Arn")
    res["Trail"] = {"Type": "AWS::CloudTrail::Trail", "DependsOn": "TrailBucketPolicy", "Properties": props}
    outputs["TrailArn"] = {"Description": "ARN of the trail", "Value": Tag("GetAtt", "Trail.Arn")}


def plan_cloudformation(templates: int, trail_percent: float, seed: int) -> tuple[Tree, dict]:
    rng = random.Random(f"cloudformation:{seed}")
    tree = Tree()
    n_trails = max(1, round(templates * trail_percent / 100.0)) if trail_percent > 0 else 0
    trail_idx = set(rng.sample(range(templates), min(n_trails, templates)))
    used: set = set()
    trails = []
    for i in range(templates):
        area = rng.choice(AREAS)
        for _ in range(1000):
            name = f"{rng.choice(NOUNS)}-{rng.choice(ROLES)}"
            if (area, name) not in used:
                break
        else:
            name = f"{name}-{i}"
        used.add((area, name))
        labels: set = set()

        def label(base: str) -> str:
            n = 1
            while f"{base}{n if n > 1 else ''}" in labels:
                n += 1
            lbl = f"{base}{n if n > 1 else ''}"
            labels.add(lbl)
            return lbl

        params: dict = {"Environment": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "staging", "prod"],
                                        "Description": "Deployment environment"},
                        "VpcCidr": {"Type": "String", "Default": "10.20.0.0/16", "Description": "CIDR block of the VPC"},
                        "VpcId": {"Type": "AWS::EC2::VPC::Id", "Description": "VPC of the service"}}
        res: dict = {}
        outputs: dict = {}
        variant = None
        if i in trail_idx:
            variant = _variant(rng)
            if variant == "unknown_key_variable":
                variant = "good_document"
            params["TrailName"] = {"Type": "String", "Default": "management-events"}
            params["LogReaderRoleName"] = {"Type": "String", "Default": "SecurityAudit"}
            cfn_trail(rng, res, outputs, variant)
        target = rng.randrange(4 * KB, 25 * KB)
        description = f"{area}/{name}: {'audit trail and ' if variant else ''}service resources"
        body = ""
        for _ in range(200):
            cfn_resources(rng, res, outputs, label)
            body = yaml({"AWSTemplateFormatVersion": "2010-09-09", "Description": description, "Parameters": params,
                         "Resources": res, "Outputs": outputs})
            if len(body) >= target:
                break
        # only the parameters and conditions the resources use (cfn-lint warns about the others)
        used_params = {p: v for p, v in params.items() if f"!Ref {p}" in body or f"${{{p}}}" in body}
        doc: dict = {"AWSTemplateFormatVersion": "2010-09-09", "Description": description, "Parameters": used_params}
        if "IsProd" in body:
            doc["Conditions"] = {"IsProd": Tag("Equals", [Tag("Ref", "Environment"), "prod"])}
            doc["Parameters"].setdefault("Environment", params["Environment"])
        doc["Resources"] = res
        doc["Outputs"] = outputs
        body = yaml(doc)
        path = f"templates/{area}/{name}.yaml"
        tree.add(path, body)
        if variant:
            trails.append({"path": path, "variant": variant})
    tree.add("README.md", f"# stacks\n\nSynthetic CloudFormation templates (templates={templates}, trail_percent={trail_percent}, seed={seed}).\n")
    manifest = {"kind": "cloudformation", "templates": templates, "trail_percent": trail_percent, "seed": seed,
                "trail_templates": trails, "glob": "templates/**/*.yaml",
                "bytes": sum(len(t.encode()) for t in tree.files.values())}
    return tree, manifest


# ====================================================================== entry points


def build(kind: str, **kw) -> tuple[Tree, dict]:
    if kind == "terraform":
        return plan_terraform(kw["files"], kw["trail_percent"], kw["seed"])
    if kind == "dense":
        return plan_dense(kw["modules"], kw["seed"])
    if kind == "cloudformation":
        return plan_cloudformation(kw["templates"], kw["trail_percent"], kw["seed"])
    raise ValueError(kind)


def generate(kind: str, out: str, force: bool = False, git_marker: bool = True, **kw) -> dict:
    """Write the repository to ``out``; returns its manifest (what run.py needs: trail modules, pre-commit files)."""
    if os.path.exists(out):
        if not force:
            raise FileExistsError(f"{out} exists (use --force to replace it)")
        shutil.rmtree(out)
    tree, manifest = build(kind, **kw)
    tree.write(out, git_marker)
    manifest["generator_version"] = GENERATOR_VERSION
    return manifest


def tree_digest(root: str) -> str:
    """sha256 over every file's relative path and bytes, sorted: equal digests mean byte-identical trees."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            h.update(rel.encode() + b"\0")
            with open(full, "rb") as fh:
                h.update(fh.read())
            h.update(b"\0")
    return h.hexdigest()


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="generate.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="kind", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("out", help="directory to create")
    common.add_argument("--seed", type=int, default=1)
    common.add_argument("--force", action="store_true", help="replace OUT if it exists")
    common.add_argument("--no-git-marker", action="store_true", help="do not write .git/HEAD")
    common.add_argument("--manifest", metavar="FILE", help="also write the manifest (JSON) to FILE")
    t = sub.add_parser("terraform", parents=[common], help="a Terraform monorepo")
    t.add_argument("--files", type=int, default=2000, help=".tf files in all (default 2000)")
    t.add_argument("--trail-percent", type=float, default=2.0, help="per cent of module directories with a trail")
    d = sub.add_parser("dense", parents=[common], help="modules that are each a trail + key + policy document")
    d.add_argument("--modules", type=int, default=200)
    c = sub.add_parser("cloudformation", parents=[common], help="CloudFormation templates")
    c.add_argument("--templates", type=int, default=200)
    c.add_argument("--trail-percent", type=float, default=5.0)
    a = p.parse_args(argv)
    kw: dict = {"seed": a.seed}
    if a.kind == "terraform":
        kw.update(files=a.files, trail_percent=a.trail_percent)
    elif a.kind == "dense":
        kw.update(modules=a.modules)
    else:
        kw.update(templates=a.templates, trail_percent=a.trail_percent)
    try:
        manifest = generate(a.kind, a.out, force=a.force, git_marker=not a.no_git_marker, **kw)
    except FileExistsError as e:
        p.error(str(e))
    if a.manifest:
        with open(a.manifest, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
            fh.write("\n")
    summary = {k: v for k, v in manifest.items() if not isinstance(v, (list, dict))}
    summary["trails"] = len(manifest.get("trail_modules", manifest.get("trail_templates", [])))
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
