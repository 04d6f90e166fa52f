"""Conformance of bulwark's ValidatingAdmissionPolicies with its webhook.

Sends every object of the given manifest files to the API server as a server-side dry-run
create (nothing is stored) and records, per object, which rules denied it and which warned.
The same objects go through three phases, each with its own admission set-up:

    webhook   only bulwark's validating webhook, its policy in audit mode: every finding is
              then an audit annotation (`would deny`, `warn`, `audit`), none is lost to the
              limits on warnings, and the object goes on to the next rule
    vap       only the generated policies and bindings, exactly as `bulwark vap` prints them
    vap-all   the same policies bound to Warn, a group of at most GROUP rules at a time: the
              API server reports only the first denying policy of a request, and past 4096
              characters of warnings it cuts and drops them, so each group stays under that

The webhook's verdicts are read from the API server's audit log (AUDIT_LOG), by the request's
Audit-Id.
`compare` then holds the policies to the webhook, rule by rule and object by object:

- per rule, the webhook's verdict (denied / warned / allowed) equals the policy's (the rule
  warns in its `vap-all` group, and its binding's action in `bulwark vap` says how);
- per object, `vap` denies exactly when the webhook would deny for an exported rule, with a
  rule the webhook would deny for;
- every fixture named `fail-...` is flagged by its rule (the file's name) in both, and every
  fixture named `pass-...` by neither, so a missing or mistyped fixture cannot pass quietly.

    python3 vap_conformance.py send PHASE OUT.json RULES.json FILE...
    python3 vap_conformance.py groups VAP.yaml            # how many vap-all groups there are
    python3 vap_conformance.py bind VAP.yaml N            # bind only group N, to [Warn]
    python3 vap_conformance.py compare WEBHOOK.json VAP.json VAP.yaml TABLE.md VAPALL.json...

Connection: KUBECONFIG's first cluster and user (client certificate files), as up.sh writes it.
Namespaces: objects keep `default`, `kube-public` and `ignored`; every other namespaced object
is sent to `vap-conformance`.
"""
import collections
import http.client
import json
import os
import re
import ssl
import sys
import time
import urllib.parse

import yaml

NAMESPACE = "vap-conformance"
KEPT_NAMESPACES = {"default", "kube-public", "ignored"}

# group/version, plural, namespaced: the kinds bulwark judges.
KINDS = {
    ("v1", "Pod"): ("pods", True),
    ("v1", "ReplicationController"): ("replicationcontrollers", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Service"): ("services", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("apps/v1", "DaemonSet"): ("daemonsets", True),
    ("apps/v1", "ReplicaSet"): ("replicasets", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("batch/v1", "CronJob"): ("cronjobs", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("horizontalpodautoscalers", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
}


def connection():
    config = yaml.safe_load(open(os.environ["KUBECONFIG"]))
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    url = urllib.parse.urlparse(cluster["server"])
    context = ssl.create_default_context(cafile=cluster["certificate-authority"])
    context.load_cert_chain(user["client-certificate"], user["client-key"])
    return http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=30)


def request(conn, method, path, body=None, content_type="application/json"):
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    warnings = []
    audit_id = resp.getheader("Audit-Id")
    for key, value in resp.getheaders():
        if key.lower() == "warning":
            m = re.match(r'^\d{3} \S+ "(.*)"$', value, re.S)
            text = m.group(1) if m else value
            warnings.append(text.replace('\\"', '"').replace("\\\\", "\\"))
    try:
        payload = json.loads(data) if data else {}
    except ValueError:
        payload = {"message": data.decode("utf-8", "replace")}
    return resp.status, payload, warnings, audit_id


def objects(paths):
    """(key, object) for every document of a kind bulwark judges, in file order."""
    for path in paths:
        with open(path) as f:
            try:
                docs = list(yaml.safe_load_all(f))
            except yaml.YAMLError as e:
                print(f"vap_conformance: {path}: not YAML ({e}); skipped", file=sys.stderr)
                continue
        for index, doc in enumerate(docs):
            if not isinstance(doc, dict):
                continue
            items = doc.get("items") if doc.get("kind") == "List" else [doc]
            for sub, obj in enumerate(items or []):
                if not isinstance(obj, dict):
                    continue
                kind = (obj.get("apiVersion"), obj.get("kind"))
                if kind not in KINDS:
                    continue
                meta = obj.setdefault("metadata", {}) or {}
                obj["metadata"] = meta
                if not meta.get("name") and not meta.get("generateName"):
                    meta["name"] = f"unnamed-{index}-{sub}"
                key = f"{path}#{index}.{sub} {kind[1]}/{meta.get('name') or meta.get('generateName')}"
                yield key, kind, obj


def api_path(kind, obj):
    group_version, _ = kind
    plural, namespaced = KINDS[kind]
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    if not namespaced:
        obj["metadata"].pop("namespace", None)
        return f"{prefix}/{plural}"
    namespace = obj["metadata"].get("namespace")
    if namespace not in KEPT_NAMESPACES:
        namespace = NAMESPACE
    obj["metadata"]["namespace"] = namespace
    return f"{prefix}/namespaces/{namespace}/{plural}"


WEBHOOK_DENIAL = re.compile(r'admission webhook "validate\.bulwark\.dev" denied the request')
POLICY = re.compile(r"ValidatingAdmissionPolicy 'bulwark-([a-z0-9-]+)' with binding")


def verdict(rule_ids, status, payload, warnings):
    """denied and warned rule ids, and anything else that refused the object."""
    denied, warned, other = [], [], None
    ids = re.compile(r"\[([a-z0-9-]+)\]")
    for w in warnings:
        m = POLICY.search(w)
        if m:
            warned.append(m.group(1))
            continue
        m = re.match(r"^\[([a-z0-9-]+)\]", w)
        if m and m.group(1) in rule_ids:
            warned.append(m.group(1))
    if status >= 300:
        message = payload.get("message", "")
        m = POLICY.search(message)
        if m:
            denied.append(m.group(1))
            if not re.search(r"denied request: \[" + re.escape(m.group(1)) + r"\]", message):
                other = message  # an evaluation error, not the rule's own message
        elif WEBHOOK_DENIAL.search(message):
            denied = [i for i in ids.findall(message) if i in rule_ids]
            if not denied:
                other = message
        else:
            other = message
    return sorted(set(denied)), sorted(set(warned)), other


WEBHOOK_ANNOTATION = re.compile(r"^validate\.bulwark\.dev/([a-z0-9-]+)$")
ENTRY = re.compile(r"(?:^|; )(would deny|deny|warn|audit): ")


def audit_annotations(audit_ids):
    """{audit id: annotations} of the ResponseComplete events of these requests."""
    wanted, found = set(audit_ids), {}
    with open(os.environ["AUDIT_LOG"]) as log:
        for line in log:
            if '"ResponseComplete"' not in line:
                continue
            event = json.loads(line)
            if event.get("auditID") in wanted and event.get("stage") == "ResponseComplete":
                found[event["auditID"]] = event.get("annotations") or {}
    return found


def audited(rule_ids, annotations):
    """denied, warned and audited rule ids from the audit annotations of one request."""
    denied, warned, audits, other = set(), set(), set(), None
    for key, value in annotations.items():
        m = WEBHOOK_ANNOTATION.match(key)
        if m and m.group(1) in rule_ids:
            kinds = set(ENTRY.findall(value))
            if kinds & {"would deny", "deny"}:
                denied.add(m.group(1))
            if "warn" in kinds:
                warned.add(m.group(1))
            if "audit" in kinds:
                audits.add(m.group(1))
        elif key == "validate.bulwark.dev/truncated":
            other = f"bulwark truncated its audit annotations: {value}"
    return sorted(denied), sorted(warned), sorted(audits), other


def send(phase, out, rules_file, paths):
    rule_ids = {r["id"] for r in json.load(open(rules_file)) if r["type"] == "rule"}
    conn = connection()
    results, ids = {}, {}
    for key, kind, obj in objects(paths):
        path = api_path(kind, obj) + "?dryRun=All&fieldValidation=Ignore"
        try:
            status, payload, warnings, audit_id = request(conn, "POST", path, obj)
        except (http.client.HTTPException, OSError):
            conn = connection()
            status, payload, warnings, audit_id = request(conn, "POST", path, obj)
        denied, warned, other = verdict(rule_ids, status, payload, warnings)
        results[key] = {"status": status, "denied": denied, "warned": warned, "other": other,
                        "message": payload.get("message", "") if status >= 300 else ""}
        ids[key] = audit_id
    # The log backend writes each event as its request completes; give the last one a moment.
    time.sleep(1)
    events = audit_annotations(i for i in ids.values() if i)
    for key, audit_id in ids.items():
        annotations = events.get(audit_id)
        if annotations is None:
            results[key]["other"] = results[key]["other"] or f"no audit event for {audit_id}"
            continue
        a_denied, a_warned, a_audited, a_other = audited(rule_ids, annotations)
        results[key].update(audit_denied=a_denied, audit_warned=a_warned, audited=a_audited)
        results[key]["other"] = results[key]["other"] or a_other
    json.dump({"phase": phase, "objects": results}, open(out, "w"), indent=1, sort_keys=True)
    refused = sum(1 for r in results.values() if r["status"] >= 300)
    print(f"{phase}: {len(results)} objects sent, {refused} refused")


GROUP = 10
BINDINGS = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"


def bindings(vap_yaml):
    return [d for d in yaml.safe_load_all(open(vap_yaml)) if d and d.get("kind") == "ValidatingAdmissionPolicyBinding"]


def groups(vap_yaml):
    print((len(bindings(vap_yaml)) + GROUP - 1) // GROUP)


def bind(vap_yaml, group):
    """Only the bindings of `group`, each with validationActions [Warn]."""
    conn = connection()
    status, payload, _, _ = request(conn, "GET", BINDINGS)
    assert status == 200, payload
    for item in payload.get("items", []):
        name = item["metadata"]["name"]
        if name.startswith("bulwark-"):
            status, body, _, _ = request(conn, "DELETE", f"{BINDINGS}/{name}")
            assert status in (200, 202, 404), body
    chosen = bindings(vap_yaml)[group * GROUP:(group + 1) * GROUP]
    for b in chosen:
        b["spec"]["validationActions"] = ["Warn"]
        status, body, _, _ = request(conn, "POST", BINDINGS, b)
        assert status == 201, body
    print(f"bind: group {group}: {len(chosen)} bindings with [Warn]")


def fixture_rule(key):
    """The rule a fixture file is about, and whether the object is a fail or pass case."""
    path, rest = key.split("#", 1)
    name = rest.split("/", 1)[1]
    base = os.path.splitext(os.path.basename(path))[0]
    if name.startswith("fail-"):
        return base, "fail"
    if name.startswith("pass-"):
        return base, "pass"
    return base, None


def exported_rules(vap_yaml):
    """{rule id: deny | warn | audit} from the bindings `bulwark vap` printed."""
    actions = {"Deny": "deny", "Warn": "warn", "Audit": "audit"}
    out = {}
    for doc in yaml.safe_load_all(open(vap_yaml)):
        if doc and doc.get("kind") == "ValidatingAdmissionPolicyBinding":
            rule = doc["metadata"]["annotations"]["bulwark.dev/rule"]
            out[rule] = actions[doc["spec"]["validationActions"][0]]
    return out


def rejected_by_the_api_server(result):
    """The API server itself refused the object (it does not decode), before any admission."""
    message = result.get("message", "")
    return result["status"] >= 300 and not POLICY.search(message) and not WEBHOOK_DENIAL.search(message)


def merged(files):
    """The vap-all groups as one phase: a rule fails where it warned in its group."""
    out = {}
    for f in files:
        for key, r in json.load(open(f))["objects"].items():
            m = out.setdefault(key, {"status": 0, "denied": [], "warned": [], "other": None, "message": ""})
            m["warned"] = sorted(set(m["warned"]) | set(r["warned"]) | set(r["denied"]))
            m["other"] = m["other"] or r["other"]
            if r["status"] >= 300:
                m["status"], m["message"] = r["status"], r["message"]
    return out


def compare(webhook_file, vap_file, exported_file, table_file, *vapall_files):
    webhook = json.load(open(webhook_file))["objects"]
    vap = json.load(open(vap_file))["objects"]
    vapall = merged(vapall_files)
    exported = exported_rules(exported_file)
    problems, unstorable = [], []
    counts = {r: {"webhook": collections.Counter(), "vap": collections.Counter()} for r in exported}
    for key in sorted(webhook):
        w, v, a = webhook[key], vap.get(key), vapall.get(key)
        if v is None or a is None:
            problems.append(f"{key}: missing from a VAP phase")
            continue
        if all(rejected_by_the_api_server(r) for r in (w, v, a)):
            unstorable.append(f"{key}: {w['message'][:200]}")
            continue
        for phase, r in (("webhook", w), ("vap", v), ("vap-all", a)):
            if r["other"]:
                problems.append(f"{key}: {phase}: {r['other'][:300]}")
        w_denied, w_warned = set(w.get("audit_denied", [])), set(w.get("audit_warned", []))
        failed = set(a["warned"])
        for rule, action in exported.items():
            wv = "denied" if rule in w_denied else "warned" if rule in w_warned else "allowed"
            vv = ("denied" if action == "deny" else "warned") if rule in failed else "allowed"
            counts[rule]["webhook"][wv] += 1
            counts[rule]["vap"][vv] += 1
            if wv != vv:
                problems.append(f"{key}: {rule}: webhook {wv}, policy {vv}")
        denied_exported = sorted(r for r in w_denied if r in exported)
        if bool(denied_exported) != bool(v["denied"]):
            problems.append(f"{key}: the webhook would deny for {denied_exported}, the policies denied for {v['denied']}")
        elif v["denied"] and v["denied"][0] not in denied_exported:
            problems.append(f"{key}: the policy of {v['denied'][0]} denied; the webhook would deny for {denied_exported}")
        rule, case = fixture_rule(key)
        if case and rule in exported:
            flagged = rule in w_denied or rule in w_warned
            if (case == "fail") != flagged:
                problems.append(f"{key}: a {case} fixture of {rule}, but the webhook {'flagged' if flagged else 'passed'} it")
        elif case:
            problems.append(f"{key}: a fixture of {rule}, which is not exported")
    lines = ["| rule | action | webhook denied | webhook warned | webhook allowed | VAP denied | VAP warned | VAP allowed |",
             "|---|---|---|---|---|---|---|---|"]
    for rule in sorted(counts):
        c = counts[rule]
        lines.append(f"| `{rule}` | {exported[rule]} | " + " | ".join(
            str(c[side][v]) for side in ("webhook", "vap") for v in ("denied", "warned", "allowed")) + " |")
    table = "\n".join(lines) + "\n"
    open(table_file, "w").write(table)
    print(table)
    judged = len(webhook) - len(unstorable)
    print(f"{judged} objects judged ({len(unstorable)} more the API server itself refuses: not decodable, or already stored), "
          f"{len(exported)} exported rules, {len(problems)} differences")
    for u in unstorable:
        print("REFUSED BY THE API SERVER:", u)
    for p in problems:
        print("DIFF:", p)
    return 1 if problems or not judged else 0


def main(argv):
    command = argv[1]
    if command == "send":
        send(argv[2], argv[3], argv[4], argv[5:])
        return 0
    if command == "groups":
        groups(argv[2])
        return 0
    if command == "bind":
        bind(argv[2], int(argv[3]))
        return 0
    if command == "compare":
        return compare(*argv[2:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
