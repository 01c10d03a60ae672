"""Terraform plan JSON (``terraform show -json plan.out``, format_version 1.x).

Known values come from ``planned_values`` (and ``prior_state`` for data
sources read at plan time); a value known only after apply is followed through
``configuration``'s ``references`` (``aws_kms_key.logs.arn``, ``module.kms.key_arn``,
``var.x``), so a key created in the same plan is followed to its policy instead
of being reported as missing.

Findings point at the ``.tf`` file and line of the trail when the configuration
is next to the plan (the module sources in ``configuration.module_calls``);
otherwise at the plan file.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable, Optional

from .. import catalogue, limits
from ..catalogue import EVENT_DATA_STORE, TRAIL
from ..model import (
    AWS_MANAGED,
    NO_KEY,
    NOT_A_KEY,
    RESOLVED,
    UNRESOLVED,
    Finding,
    Key,
    KeyPolicy,
    KeyResolution,
    Location,
    Subject,
    TraceStep,
)
from ..trail import analyse
from ..values import Symbol
from ..tfnames import ACCOUNT, KEY_TYPES, PARTITION, REGION, TRAIL_TYPES

LOG = logging.getLogger(__name__)


MAX_PLAN_MODULES = 10_000  # modules read from planned_values / prior_state (a plan is untrusted input too)


def is_plan(doc: Any) -> bool:
    return isinstance(doc, dict) and "format_version" in doc and ("planned_values" in doc or "configuration" in doc)


# A plan file is input like any other: every value read from it may have any JSON type.
def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


def _refs(conf: Any, attr: str) -> list:
    """The ``references`` of ``conf.expressions.<attr>``: strings only."""
    return [r for r in _l(_d(_d(_d(conf).get("expressions")).get(attr)).get("references")) if isinstance(r, str)]


def _json_doc(text: str) -> Any:
    """A JSON document from a planned value; raises ValueError for anything that is not one."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _walk_modules(module: Any, out: dict) -> None:
    stack = [module]
    seen = 0
    while stack and seen < MAX_PLAN_MODULES:
        module = stack.pop()
        if not isinstance(module, dict):
            continue
        seen += 1
        for r in _l(module.get("resources")):
            if isinstance(r, dict) and isinstance(r.get("address"), str):
                out[r["address"]] = r
        stack.extend(reversed(_l(module.get("child_modules"))))


class _ConfigModule:
    """One module of ``configuration`` with its address prefix and source directory."""

    def __init__(self, body: dict, prefix: str, directory: Optional[str], call_exprs: Optional[dict], parent):
        self.body = body if isinstance(body, dict) else {}
        self.prefix = prefix
        self.directory = directory
        self.call_exprs = call_exprs or {}
        self.parent = parent

    def resource(self, address: str) -> Optional[dict]:
        for r in _l(self.body.get("resources")):
            if isinstance(r, dict) and r.get("address") == address:
                return r
        return None

    def child(self, name: str, plan_dir: str) -> Optional["_ConfigModule"]:
        call = _d(self.body.get("module_calls")).get(name)
        if not isinstance(call, dict):
            return None
        src = call.get("source")
        directory = None
        if isinstance(src, str) and src.startswith(("./", "../")) and self.directory:
            directory = os.path.normpath(os.path.join(self.directory, src))
        return _ConfigModule(_d(call.get("module")), f"{self.prefix}module.{name}.", directory,
                             _d(call.get("expressions")), self)


class PlanAnalyser:
    def __init__(self, plan: dict, plan_file: str, display: Callable[[str], str], locate: Callable,
                 hcl_policy: Optional[Callable] = None, accounts: tuple = ()):
        self.accounts = tuple(accounts)
        self.plan = plan
        self.plan_file = plan_file
        self.plan_dir = os.path.dirname(os.path.abspath(plan_file))
        self.display = display
        self.locate = locate  # (directory, address) -> (Location of block, Location of kms_key_id | None)
        # (directory, key address) -> KeyPolicy from the .tf next to the plan, for policies the plan leaves unknown
        self.hcl_policy = hcl_policy
        self.planned: dict[str, dict] = {}
        _walk_modules(_d(plan.get("planned_values")).get("root_module"), self.planned)
        self.prior: dict[str, dict] = {}
        _walk_modules(_d(_d(plan.get("prior_state")).get("values")).get("root_module"), self.prior)
        self.changes = {c["address"]: c for c in _l(plan.get("resource_changes"))
                        if isinstance(c, dict) and isinstance(c.get("address"), str)}
        self.root = _ConfigModule(_d(_d(plan.get("configuration")).get("root_module")), "", self.plan_dir, None, None)
        self.env = self._environment()

    def _environment(self) -> dict:
        env = {"partition": PARTITION, "region": REGION, "account": ACCOUNT}
        for addr, r in list(self.prior.items()) + list(self.planned.items()):
            values = _d(r.get("values"))
            if r.get("type") == "aws_caller_identity" and isinstance(values.get("account_id"), str):
                env["account"] = values["account_id"]
            elif r.get("type") == "aws_partition" and isinstance(values.get("partition"), str):
                env["partition"] = values["partition"]
            elif r.get("type") == "aws_region" and isinstance(values.get("name"), str):
                env["region"] = values["name"]
        return env

    # ------------------------------------------------------------ values

    def values(self, address: str) -> dict:
        r = self.planned.get(address) or self.prior.get(address)
        return _d(_d(r).get("values"))

    def unknown(self, address: str, attr: str) -> bool:
        after_unknown = _d(_d(_d(self.changes.get(address)).get("change")).get("after_unknown"))
        return after_unknown.get(attr) is True

    def _config_for(self, address: str) -> tuple[Optional[_ConfigModule], Optional[dict]]:
        """The configuration module and resource block for a module-qualified address (instance keys dropped)."""
        base = _strip_index(address)
        parts = base.split(".")
        mod = self.root
        while len(parts) > 2 and parts[0] == "module":
            mod = mod.child(parts[1], self.plan_dir) if mod else None
            parts = parts[2:]
            if mod is None:
                return None, None
        return mod, mod.resource(".".join(parts)) if mod else None

    # ------------------------------------------------------------ trails

    def findings(self) -> list[Finding]:
        out: list[Finding] = []
        for address, r in sorted(self.planned.items()):
            if r.get("mode") != "managed" or not isinstance(r.get("type"), str) or r["type"] not in TRAIL_TYPES:
                continue
            out.extend(self._guarded(address, r))
        return out

    def _guarded(self, address: str, r: dict) -> list[Finding]:
        """A trail's findings; a limit or a failure of the analysis is CTKMS007 for it, never a pass."""
        try:
            return self.trail(address, r)
        except limits.LimitExceeded as e:
            why = str(e)
        except RecursionError:
            why = "the plan is nested too deeply to analyse"
        except Exception as e:  # noqa: BLE001 - a bug must not turn into a pass, nor stop the other trails
            LOG.debug("cloudtrail-kms-lint: analysis of %s failed", address, exc_info=True)
            why = f"the analysis failed ({type(e).__name__}: {str(e)[:200]})"
        subject = Subject(kind=TRAIL_TYPES[r["type"]], resource=address, resource_type=r["type"],
                          location=Location(self.display(self.plan_file), None),
                          partition=self.env["partition"], region=self.env["region"], account=self.env["account"],
                          accounts=self.accounts)
        return analyse(subject, [KeyResolution(UNRESOLVED, detail=why)])

    def trail(self, address: str, r: dict) -> list[Finding]:
        kind = TRAIL_TYPES[r["type"]]
        values = _d(r.get("values"))
        mod, conf = self._config_for(address)
        location = Location(self.display(self.plan_file), None)
        if mod is not None and mod.directory:
            block_loc, attr_loc = self.locate(mod.directory, _strip_index(address)[len(mod.prefix):])
            location = attr_loc or block_loc or location
        name: Any = values.get("name") if isinstance(values.get("name"), str) else Symbol(f"{address}.name", "opaque", "the trail name is known only after apply")
        subject = Subject(kind=kind, resource=address, resource_type=r["type"], location=location, name=name if kind == TRAIL else "",
                          partition=self.env["partition"], region=self.env["region"], account=self.env["account"],
                          accounts=self.accounts)
        trace = [TraceStep(f"{address}.kms_key_id (plan)", location)]
        resolution = self.resolve_attr(address, "kms_key_id", mod, conf, trace, set())
        return analyse(subject, [resolution])

    def resolve_attr(self, address: str, attr: str, mod, conf, trace: list, seen: set) -> KeyResolution:
        values = self.values(address)
        value = values.get(attr)
        if isinstance(value, str) and value:
            return self.classify_literal(value, trace)
        if value is not None and not isinstance(value, str):
            return KeyResolution(NOT_A_KEY, detail=f"{attr} is not a string in the plan", trace=trace)
        if not self.unknown(address, attr):
            return KeyResolution(NO_KEY, detail=f"{attr} is not set" if value is None else f"{attr} is empty", trace=trace)
        return self.follow(_refs(conf, attr), mod, trace, seen)

    def follow(self, refs: list, mod: Optional[_ConfigModule], trace: list, seen: set) -> KeyResolution:
        if mod is None or not refs:
            return KeyResolution(UNRESOLVED, detail="the value is known only after apply and the plan's configuration does not say where it comes from", trace=trace)
        ref = refs[0]
        if ref in seen:
            return KeyResolution(UNRESOLVED, detail=f"{ref} refers to itself", trace=trace)
        seen = seen | {ref}
        parts = ref.split(".")
        trace = trace + [TraceStep(f"{mod.prefix}{ref}")]
        if parts[0] == "module" and len(parts) >= 3:
            child = mod.child(parts[1], self.plan_dir)
            out = _d(_d(child.body.get("outputs")).get(parts[2])) if child else {}
            refs = [r for r in _l(_d(out.get("expression")).get("references")) if isinstance(r, str)]
            return self.follow(refs, child, trace, seen)
        if parts[0] == "var" and len(parts) >= 2:
            if mod.parent is None:
                v = _d(_d(self.plan.get("variables")).get(parts[1])).get("value")
                if isinstance(v, str) and v:
                    return self.classify_literal(v, trace)
                return KeyResolution(UNRESOLVED, detail=f"var.{parts[1]} has no value in the plan", trace=trace)
            expr = _d(mod.call_exprs.get(parts[1]))
            if isinstance(expr.get("constant_value"), str):
                return self.classify_literal(expr["constant_value"], trace)
            refs = [r for r in _l(expr.get("references")) if isinstance(r, str)]
            return self.follow(refs, mod.parent, trace, seen)
        if parts[0] == "local":
            return KeyResolution(UNRESOLVED, detail=f"{ref}: locals are not recorded in plan JSON", trace=trace)
        if parts[0] == "data" and len(parts) >= 3:
            if parts[1] in ("aws_kms_key", "aws_kms_alias"):
                return KeyResolution(UNRESOLVED, detail=f"{mod.prefix}{'.'.join(parts[:3])} reads a key defined outside this configuration", trace=trace)
            return KeyResolution(NOT_A_KEY, detail=f"{ref} is not a KMS key", trace=trace)
        if len(parts) >= 2:
            rtype = parts[0]
            address = f"{mod.prefix}{parts[0]}.{parts[1]}"
            attr = parts[2] if len(parts) > 2 else "id"
            if rtype in KEY_TYPES:
                return self.key(address, mod, trace)
            if rtype == "aws_kms_alias":
                if attr not in ("arn",):
                    return KeyResolution(NOT_A_KEY, detail=f"kms_key_id is {address}.{attr}, not an ARN: the AWS provider validates kms_key_id as an ARN", trace=trace)
                conf = mod.resource(f"{parts[0]}.{parts[1]}")
                return self.resolve_target(address, mod, conf, trace, seen)
            return KeyResolution(NOT_A_KEY, detail=f"{address} is a {rtype}, not a KMS key", trace=trace)
        return KeyResolution(UNRESOLVED, detail=f"{ref} is not followed", trace=trace)

    def resolve_target(self, alias_address: str, mod, conf, trace: list, seen: set) -> KeyResolution:
        value = self.values(alias_address).get("target_key_id")
        if isinstance(value, str) and value:
            key = self._key_by_id(value)
            if key:
                return self.key(key, mod, trace)
            return KeyResolution(UNRESOLVED, detail=f"{value} is a key defined outside this configuration", trace=trace)
        return self.follow(_refs(conf, "target_key_id"), mod, trace, seen)

    def _key_by_id(self, value: str) -> Optional[str]:
        for addr, r in self.planned.items():
            v = _d(r.get("values"))
            if r.get("type") in KEY_TYPES and value in (v.get("arn"), v.get("key_id"), v.get("id")):
                return addr
        return None

    def classify_literal(self, value: str, trace: list) -> KeyResolution:
        if value.startswith("alias/aws/") or ":alias/aws/" in value:
            return KeyResolution(AWS_MANAGED, detail=value, trace=trace)
        if not value.startswith("arn:"):
            return KeyResolution(NOT_A_KEY, detail=f"kms_key_id is '{value}', not an ARN: the AWS provider validates kms_key_id as an ARN, so terraform plan fails", trace=trace)
        key = self._key_by_id(value)
        if key:
            return self.key(key, self._config_for(key)[0], trace)
        for addr, r in self.planned.items():
            v = _d(r.get("values"))
            if r.get("type") == "aws_kms_alias" and v.get("arn") == value:
                mod, conf = self._config_for(addr)
                return self.resolve_target(addr, mod, conf, trace, set())
        return KeyResolution(UNRESOLVED, detail=f"{value} is the ARN of a key defined outside this plan, so its key policy cannot be read", trace=trace)

    def key(self, address: str, mod: Optional[_ConfigModule], trace: list) -> KeyResolution:
        values = self.values(address)
        spec = values.get("customer_master_key_spec") or values.get("key_spec") or "SYMMETRIC_DEFAULT"
        if not isinstance(spec, str):
            spec = "SYMMETRIC_DEFAULT"
        trace = trace + [TraceStep(f"key {address}")]
        policy_text = values.get("policy")
        location = None
        if mod is not None and mod.directory:
            block_loc, _ = self.locate(mod.directory, _strip_index(address)[len(mod.prefix):])
            location = block_loc
        if isinstance(policy_text, str) and policy_text:
            try:
                doc: Any = _json_doc(policy_text)
            except ValueError:
                doc = Symbol(f"{address}.policy", "opaque", f"the planned policy of {address} is not JSON")
            return KeyResolution(RESOLVED, key=Key(address, KeyPolicy(doc, location), spec, location), trace=trace)
        if self.unknown(address, "policy"):
            conf = self._config_for(address)[1]
            doc = self._policy_from_refs(_refs(conf, "policy"), mod)
            if isinstance(doc, Symbol) and self.hcl_policy is not None and mod is not None and mod.directory:
                # known only after apply in the plan: read the configuration next to the plan
                kp = self.hcl_policy(mod.directory, _strip_index(address)[len(mod.prefix):])
                if kp is not None:
                    trace.append(TraceStep(f"policy of {address} from the configuration (unknown in the plan)", kp.location))
                    return KeyResolution(RESOLVED, key=Key(address, kp, spec, location), trace=trace)
            return KeyResolution(RESOLVED, key=Key(address, KeyPolicy(doc, location), spec, location), trace=trace)
        # no policy argument: a separate aws_kms_key_policy, or AWS's default key policy
        for addr, r in self.planned.items():
            if r.get("type") == "aws_kms_key_policy":
                kconf = self._config_for(addr)[1]
                krefs = _refs(kconf, "key_id")
                if any(f"{mod.prefix if mod else ''}{x}".startswith(_strip_index(address)) for x in krefs):
                    text = _d(r.get("values")).get("policy")
                    if isinstance(text, str):
                        try:
                            return KeyResolution(RESOLVED, key=Key(address, KeyPolicy(_json_doc(text), location), spec, location), trace=trace)
                        except ValueError:
                            break
                    prefs = _refs(kconf, "policy")
                    return KeyResolution(RESOLVED, key=Key(address, KeyPolicy(self._policy_from_refs(prefs, mod), location), spec, location), trace=trace)
        return KeyResolution(RESOLVED, key=Key(address, None, spec, location), trace=trace)

    def _policy_from_refs(self, refs: list, mod: Optional[_ConfigModule]) -> Any:
        for ref in refs:
            parts = ref.split(".")
            if parts[0] == "data" and len(parts) >= 3 and parts[1] == "aws_iam_policy_document":
                address = f"{mod.prefix if mod else ''}data.{parts[1]}.{parts[2]}"
                text = self.values(address).get("json")
                if isinstance(text, str):
                    try:
                        return _json_doc(text)
                    except ValueError:
                        pass
                return Symbol(address, "opaque", f"{address} is known only after apply in this plan")
        return Symbol("policy", "opaque", "the key policy is known only after apply and its source is not in the plan")


def _strip_index(address: str) -> str:
    out = []
    depth = 0
    for ch in address:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def analyse_plan(plan: dict, plan_file: str, display: Callable[[str], str], locate: Callable,
                 hcl_policy: Optional[Callable] = None, accounts: tuple = ()) -> list[Finding]:
    """Findings for every trail in the plan. Never raises: a plan that cannot be read at all is one CTKMS007."""
    with limits.budget("plan"):
        try:
            return PlanAnalyser(plan, plan_file, display, locate, hcl_policy, accounts).findings()
        except limits.LimitExceeded as e:
            why = str(e)
        except Exception as e:  # noqa: BLE001 - RecursionError included: reported, never a traceback nor a pass
            LOG.debug("cloudtrail-kms-lint: analysis of %s failed", plan_file, exc_info=True)
            why = f"the analysis failed ({type(e).__name__}: {str(e)[:200]})"
    rule = catalogue.BY_ID["CTKMS007"]
    return [Finding(rule=rule.id, level=rule.level, resource="(plan)", resource_type="terraform_plan",
                    file=display(plan_file), line=None, key=None,
                    message=f"The plan could not be analysed: {why}. The KMS key policies of its trails were not verified.")]
