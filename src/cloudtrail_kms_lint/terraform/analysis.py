"""Terraform analysis: every trail and event data store of a root module (and the modules it calls).

How ``kms_key_id`` is followed: references to ``aws_kms_key`` /
``aws_kms_replica_key`` (``arn``, ``key_id``, ``id``), ``aws_kms_alias``
(``arn`` follows ``target_key_id``), locals, variables (defaults, tfvars,
``--var``), module outputs, conditionals (each branch a scenario when the
condition is not known). The key's policy is its ``policy`` argument or an
``aws_kms_key_policy`` whose ``key_id`` refers to it; ``data.aws_kms_key`` /
``data.aws_kms_alias`` and literal key ARNs name keys defined elsewhere
(CTKMS007).

The AWS provider validates ``aws_cloudtrail.kms_key_id`` as an ARN
(``verify.ValidARN`` in the trail resource's schema), so a value known at plan
time that is not an ARN (``alias/foo``, ``aws_kms_alias.x.name``, a key id)
makes ``terraform plan`` fail: CTKMS002.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from .. import limits
from .. import fixes
from ..catalogue import EVENT_DATA_STORE, TRAIL
from ..report import InputError
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
from ..tfnames import ACCOUNT, KEY_ID as _KEY_ID, KEY_TYPES, PARTITION, REGION, TRAIL_TYPES  # noqa: F401
from ..trail import analyse
from ..values import Symbol, SymStr, is_text, make_text, parts_of, render, split_text, symbols_in
from .expressions import Scope, evaluate_traced
from .functions import EvalError, JsonEncoded, decode_json_value
from .module import REF_PREFIX, ModuleInstance, Project, Ref, _index_text

LOG = logging.getLogger(__name__)
MAX_SCENARIOS = limits.DEFAULTS.max_scenarios  # the default; in force: limits.current().max_scenarios



def _loc(attr_or_block: Any) -> Optional[Location]:
    return getattr(attr_or_block, "location", None)


class Analyser:
    def __init__(self, project: Project, accounts: tuple = ()):
        self.project = project
        self.accounts = tuple(accounts)

    # ------------------------------------------------------------ subjects

    def analyse_instance(self, inst: ModuleInstance, seen: Optional[set] = None) -> list[Finding]:
        findings: list[Finding] = []
        for rtype, kind in TRAIL_TYPES.items():
            for block in inst.mdir.of_type("resource", rtype):
                findings.extend(self._guarded(inst, block, kind))
        for name, block in [(b.labels[0], b) for b in inst.mdir.blocks if b.type == "module" and len(b.labels) == 1]:
            try:
                child = inst.child(name)
            except limits.LimitExceeded as e:
                child = None
                self._module_not_followed(inst, block, str(e))
            if isinstance(child, ModuleInstance):
                findings.extend(self.analyse_instance(child))
        return findings

    def _guarded(self, inst: ModuleInstance, block, kind: str) -> list[Finding]:
        """A trail block's findings, every instance; a limit or a failure of the analysis is CTKMS007, never a pass."""
        findings: list[Finding] = []
        try:
            for key, scope in inst.instances(block):
                findings.extend(self.analyse_trail(inst, block, kind, key, scope))
            return findings
        except limits.LimitExceeded as e:
            why = str(e)
        except RecursionError:
            why = "the module is nested too deeply to analyse"
        except Exception as e:  # noqa: BLE001 - a bug must not turn into a pass, nor stop the other trails
            LOG.debug("cloudtrail-kms-lint: analysis of %s failed", block.address, exc_info=True)
            why = f"the analysis failed ({type(e).__name__}: {str(e)[:200]})"
        address = f"{inst.prefix}{block.address}"
        if findings:  # some instances were analysed: say that the others were not
            why += "; other instances of the resource were not analysed"
        attr = block.attribute("kms_key_id")
        location = attr.location if attr is not None else block.location
        subject = Subject(kind=kind, resource=address, resource_type=block.labels[0],
                          location=Location(location.file, location.line, location.column),
                          partition=PARTITION, region=REGION, account=ACCOUNT, accounts=self.accounts)
        return findings + analyse(subject, [KeyResolution(UNRESOLVED, detail=why)])

    def _module_not_followed(self, inst: ModuleInstance, block, why: str) -> None:
        inst.mdir.errors.append(InputError(block.location.file, block.location.line,
                                           f"{inst.prefix}{block.address} was not analysed: {why}"))

    def analyse_trail(self, inst: ModuleInstance, block, kind: str, key: Any, scope: Scope) -> list[Finding]:
        address = f"{inst.prefix}{block.address}{_index_text(key)}"
        attr = block.attribute("kms_key_id")
        location = (attr.location if attr is not None else block.location)
        name: Any = ""
        if kind == TRAIL:
            n = inst.attr(block, "name", scope)
            name = n if is_text(n) and n != "" else Symbol(f"{address}.name", "opaque", f"the name of {address} is not known")
        subject = Subject(kind=kind, resource=address, resource_type=block.labels[0],
                          location=Location(location.file, location.line, location.column),
                          name=name, partition=PARTITION, region=REGION, account=ACCOUNT, accounts=self.accounts)
        resolutions = self.resolve(inst, block, attr, scope, address)
        findings = analyse(subject, resolutions)
        broken = [e for e in inst.mdir.errors]
        if broken and not any(f.rule in ("CTKMS001", "CTKMS002", "CTKMS007") for f in findings):
            e = broken[0]
            where = f"{e.file}:{e.line}" if e.line else e.file
            findings += analyse(subject, [KeyResolution(
                UNRESOLVED, detail=f"a file of this module does not parse ({where}), so the module was only partly read")])
        return findings

    # ------------------------------------------------------------ key resolution

    def resolve(self, inst: ModuleInstance, block, attr, scope: Scope, address: str) -> list[KeyResolution]:
        if attr is None:
            return [KeyResolution(NO_KEY, detail="kms_key_id is not set")]
        trace = [TraceStep(f"{address}.kms_key_id = {attr.expression.text.strip()}", attr.location)]
        value, refs = evaluate_traced(attr.expression, scope)
        # the hops the value took: locals, variables, module outputs (where each is read)
        for ref in refs:
            if ref.address.startswith(("local.", "var.", "module.")):
                trace.append(TraceStep(f"{inst.prefix}{ref.text}", ref.location))
        out = self._scenarios(value, trace, attr.location)
        for r in out:
            r.reference = r.reference or attr.expression.text.strip()
        return out

    def _scenarios(self, value: Any, trace: list, location: Location) -> list[KeyResolution]:
        # Unknown conditionals: evaluate each branch as a scenario ("when <cond> is true/false").
        pending: list[tuple[Any, str]] = [(value, "")]
        out: list[KeyResolution] = []
        max_scenarios = limits.current().max_scenarios
        while pending:
            v, scenario = pending.pop(0)
            choice = self.project.choices.get(v) if isinstance(v, Symbol) else None
            if choice is not None and len(out) + len(pending) < max_scenarios:
                cond, a, b = choice
                pre = f"{scenario} and " if scenario else "when "
                pending.append((a, f"{pre}{cond} is true"))
                pending.append((b, f"{pre}{cond} is false"))
                continue
            r = self.classify(v, list(trace), set())
            r.scenario = scenario
            if r.location is None:
                r.location = location
            out.append(r)
        return out

    def classify(self, value: Any, trace: list, seen: set) -> KeyResolution:
        if value is None or value == "":
            return KeyResolution(NO_KEY, detail="kms_key_id is null" if value is None else "kms_key_id is empty", trace=trace)
        if isinstance(value, JsonEncoded) or not is_text(value):
            return KeyResolution(NOT_A_KEY, detail="the value is not a string", trace=trace)
        syms = symbols_in(value)
        refs = [s for s in syms if s.name.startswith(REF_PREFIX)]
        if refs:
            ref = self.project.refs.get(refs[0].name)
            if ref is not None:
                return self.from_ref(ref, value, trace, seen)
        choices = [s for s in syms if s in self.project.choices]
        opaque = [s for s in syms if s.kind == "opaque" and not s.name.startswith(REF_PREFIX)]
        text = render(value)
        literal = "".join(p for p in parts_of(value) if isinstance(p, str))
        if (text.startswith("alias/aws/") or ":alias/aws/" in text):
            return KeyResolution(AWS_MANAGED, detail=text, trace=trace)
        if opaque or choices:
            return KeyResolution(UNRESOLVED, detail="; ".join(dict.fromkeys(s.describe() for s in opaque)), trace=trace)
        first = parts_of(value)[0]
        if not (isinstance(first, str) and first.startswith("arn:")):
            what = "an alias name" if literal.startswith("alias/") else ("a key id" if _KEY_ID.match(literal) else f"'{text}'")
            return KeyResolution(NOT_A_KEY, detail=(
                f"kms_key_id is {what}, not an ARN: the AWS provider validates kms_key_id as an ARN, "
                f"so terraform plan fails; use the key's or the alias's ARN"), trace=trace)
        fields = split_text(value, ":")
        if len(fields) >= 6 and fields[2] == "kms":
            resource = render(fields[5]) if len(fields) == 6 else ""
            if resource.startswith("alias/"):
                alias = self.alias_by_name(resource)
                if alias is not None and alias not in seen:
                    inst, block = alias
                    return self.follow_alias(inst, block, None, trace, seen | {alias})
                return KeyResolution(UNRESOLVED, detail=f"alias {resource} is not defined in the scanned code, so its key policy cannot be read", trace=trace)
            return KeyResolution(UNRESOLVED, detail=f"{text} is the ARN of a key defined outside the scanned code, so its key policy cannot be read", trace=trace)
        return KeyResolution(NOT_A_KEY, detail=f"'{text}' is not a KMS key or alias ARN", trace=trace)

    def alias_by_name(self, name: str) -> Optional[tuple]:
        """The aws_kms_alias (in any module instance read so far) whose name is ``name``."""
        for inst in list(self.project.instances):
            for block in inst.mdir.of_type("resource", "aws_kms_alias"):
                n = inst.attr(block, "name")
                if is_text(n) and render(n) == name:
                    return (inst, block)
        return None

    def from_ref(self, ref: Ref, value: Any, trace: list, seen: set) -> KeyResolution:
        rtype = ref.block.labels[0] if ref.block.labels else ""
        where = ref.block.location
        if ref.block.type == "data":
            if rtype in ("aws_kms_key", "aws_kms_alias"):
                return KeyResolution(UNRESOLVED, detail=f"{ref.address} reads a key that is defined outside the scanned code; "
                                                         f"its key policy cannot be read", trace=trace + [TraceStep(ref.address, where)])
            return KeyResolution(NOT_A_KEY, detail=f"{ref.address}.{ref.attribute} is not a KMS key", trace=trace)
        if rtype in KEY_TYPES:
            if ref.attribute not in ("arn", "key_id", "id"):
                return KeyResolution(NOT_A_KEY, detail=f"{ref.address}.{ref.attribute} is not the key's ARN or id", trace=trace)
            return self.key(ref, trace + [TraceStep(f"key {ref.address}", where)])
        if rtype == "aws_kms_alias":
            key = (ref.instance, ref.block)
            if ref.attribute != "arn":
                return KeyResolution(NOT_A_KEY, detail=(
                    f"kms_key_id is {ref.address}.{ref.attribute}, not an ARN: the AWS provider validates kms_key_id "
                    f"as an ARN, so terraform plan fails; use {ref.address}.arn"), trace=trace)
            if key in seen:
                return KeyResolution(UNRESOLVED, detail=f"alias {ref.address} refers to itself", trace=trace)
            return self.follow_alias(ref.instance, ref.block, ref, trace, seen | {key})
        return KeyResolution(NOT_A_KEY, detail=f"{ref.address} is a {rtype}, not a KMS key", trace=trace)

    def follow_alias(self, inst: ModuleInstance, block, ref: Optional[Ref], trace: list, seen: set) -> KeyResolution:
        a = block.attribute("target_key_id")
        address = ref.address if ref else f"{inst.prefix}{block.address}"
        trace = trace + [TraceStep(f"alias {address} -> target_key_id", _loc(a) or block.location)]
        if a is None:
            return KeyResolution(UNRESOLVED, detail=f"alias {address} has no target_key_id", trace=trace)
        target = inst.eval(a.expression)
        r = self.classify_target(target, trace, seen)
        return r

    def classify_target(self, target: Any, trace: list, seen: set) -> KeyResolution:
        # target_key_id accepts a key id or ARN: only the provider's ARN check on kms_key_id differs.
        syms = symbols_in(target) if is_text(target) else []
        refs = [s for s in syms if s.name.startswith(REF_PREFIX)]
        if refs and refs[0].name in self.project.refs:
            return self.from_ref(self.project.refs[refs[0].name], target, trace, seen)
        if isinstance(target, str) and _KEY_ID.match(target):
            return KeyResolution(UNRESOLVED, detail=f"{target} is the id of a key defined outside the scanned code", trace=trace)
        return self.classify(target, trace, seen)

    def key(self, ref: Ref, trace: list) -> KeyResolution:
        inst, block = ref.instance, ref.block
        spec = inst.attr(block, "customer_master_key_spec")
        if spec is None:
            spec = inst.attr(block, "key_spec")
        if not isinstance(spec, str):
            spec = "SYMMETRIC_DEFAULT"
        policy = self.key_policy(inst, block, ref, trace)
        key = Key(name=ref.address, policy=policy, spec=spec, location=block.location)
        if policy is None:  # where a policy would be added, for fixes
            key.policy_source = fixes.terraform_create_source(inst.mdir, block, ref.address)
        return KeyResolution(RESOLVED, key=key, trace=trace)

    def key_policy(self, inst: ModuleInstance, block, ref: Ref, trace: list) -> Optional[KeyPolicy]:
        a = block.attribute("policy")
        source = None
        if a is None:
            # an aws_kms_key_policy pointing at this key
            for kp in inst.mdir.of_type("resource", "aws_kms_key_policy"):
                target = inst.attr(kp, "key_id")
                names = [s.name for s in symbols_in(target)] if is_text(target) else []
                if any(n.startswith(f"{REF_PREFIX}{ref.address}.") for n in names):
                    a = kp.attribute("policy")
                    source = kp
                    break
        if a is None:
            trace.append(TraceStep(f"{ref.address} has no policy: AWS's default key policy applies", block.location))
            return None
        owner = source or block
        trace.append(TraceStep(f"policy of {inst.prefix}{owner.address}", a.location))
        value = inst.eval(a.expression)
        doc = _document(value, f"{inst.prefix}{owner.address}.policy")
        locations = []
        if isinstance(doc, dict) and isinstance(doc.get("Statement"), list):
            for st in doc["Statement"]:
                loc = self.project.statement_locations.get(id(st))
                origin = self.project.origins.get(id(st))
                if loc is None and origin is not None and origin[0] is st:
                    loc = origin[1]
                locations.append(Location(loc.file, loc.line) if loc else None)
        return KeyPolicy(document=doc, location=Location(a.location.file, a.location.line), statement_locations=locations,
                         source=fixes.terraform_source(inst.mdir, a, f"{inst.prefix}{owner.address}", self.project.display))


def _document(value: Any, what: str) -> Any:
    if isinstance(value, Symbol):
        return value
    try:
        doc = decode_json_value(value) if not isinstance(value, dict) else value
    except EvalError as e:
        return Symbol(what, "opaque", f"{what} is not a JSON policy ({e})")
    if isinstance(doc, (dict, Symbol)):
        return doc
    return Symbol(what, "opaque", f"{what} is not a JSON object")


def analyse_root(project: Project, root_dir: str, var_values: dict, accounts: tuple = ()) -> list[Finding]:
    """Findings for every trail of a root module and the modules it calls. Never raises (but ParserMissing):
    a limit or a failure that stops the analysis of a trail is CTKMS007 for it; one outside any trail is
    an error of the root module's directory (``project.module_dir(root_dir).errors``)."""
    from ..cloudformation.loader import ParserMissing

    with limits.budget("module"):
        mdir = project.module_dir(root_dir)
        try:
            inst = ModuleInstance(project, mdir, mdir.path, "", var_values)
            return Analyser(project, accounts).analyse_instance(inst)
        except ParserMissing:
            raise
        except limits.LimitExceeded as e:
            why = str(e)
        except RecursionError:
            why = "the module is nested too deeply to analyse"
        except Exception as e:  # noqa: BLE001 - reported, never a traceback nor a silent pass
            LOG.debug("cloudtrail-kms-lint: analysis of %s failed", root_dir, exc_info=True)
            why = f"the analysis failed ({type(e).__name__}: {str(e)[:200]})"
    mdir.errors.append(InputError(project.display(mdir.path), None, f"the module was not analysed: {why}"))
    return []
