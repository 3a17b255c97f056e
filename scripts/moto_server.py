"""moto's server, with DynamoDB requests handled one at a time.

moto serves requests on threads but its DynamoDB backend is not thread-safe:
a TransactWriteItems applies its items one by one and, when a condition
fails, restores a snapshot of the whole table taken before it started, which
undoes writes other requests made meanwhile (and concurrent snapshots can
raise RuntimeError). DynamoDB itself is serializable per request, so tests
that race requests need the emulator to be too. Other services (SQS) keep
moto's threading.

Usage: .venv/bin/python scripts/moto_server.py -H HOST -p PORT (as moto_server)
"""

import threading

import moto.server as server

_dynamodb = threading.Lock()
_run_simple = server.run_simple


def _serialize_dynamodb(app):
    def wrapped(environ, start_response):
        # DynamoDB_20120810.* and DynamoDBStreams_20120810.*: a stream read
        # must never see a transaction half applied (or rolled back).
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            return app(environ, start_response)
        with _dynamodb:
            body = app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

    return wrapped


def _run_simple_serialized(host, port, app, **kwargs):
    _run_simple(host, port, _serialize_dynamodb(app), **kwargs)


server.run_simple = _run_simple_serialized

if __name__ == "__main__":
    server.main()
