#!/usr/bin/env python3
"""A second mutating webhook for the e2e suite (stdlib only): it annotates the pod template,
which makes the API server re-invoke earlier webhooks that ask for it (reinvocationPolicy:
IfNeeded). usage: second_webhook.py PORT CERT KEY"""
import base64
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        req = review["request"]
        obj = req.get("object") or {}
        template = (obj.get("spec") or {}).get("template") or {}
        meta = template.get("metadata") or {}
        patch = []
        if "template" in (obj.get("spec") or {}):
            if "annotations" not in meta:
                patch.append({"op": "add", "path": "/spec/template/metadata/annotations", "value": {}})
            patch.append({"op": "add", "path": "/spec/template/metadata/annotations/second.example~1injected", "value": "true"})
        resp = {"uid": req["uid"], "allowed": True}
        if patch:
            resp["patchType"] = "JSONPatch"
            resp["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        body = json.dumps({"apiVersion": review["apiVersion"], "kind": "AdmissionReview", "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
