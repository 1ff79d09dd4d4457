"""moto_server with atomic requests.

moto's own `moto_server` serves requests on parallel threads, and its DynamoDB backend checks a
ConditionExpression and writes the item without a lock: under concurrent requests two
conditional puts on the same key can both succeed. DynamoDB (and dynalite, and LocalStack's
DynamoDB Local) apply a conditional write atomically, and Keel's registry relies on exactly
that. This launcher keeps moto's threaded server (so keep-alive connections do not block each
other) but handles one request at a time, restoring the guarantee. moto is otherwise unchanged.

Usage: python3 .ci/moto-server.py HOST PORT
"""
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def atomic(environ, start_response):
    with lock:
        # Materialise the body inside the lock: moto builds it eagerly, but be sure.
        return list(app(environ, start_response))


run_simple(host, port, atomic, threaded=True, use_reloader=False)
