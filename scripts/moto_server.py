"""moto's server, with DynamoDB requests handled one at a time.

moto serves requests on threads but its DynamoDB backend is not thread-safe:
a TransactWriteItems applies its items one by one and, when a condition
fails, restores a snapshot of the whole table taken before it started, which
undoes writes other requests made meanwhile (and concurrent snapshots can
raise RuntimeError). DynamoDB itself is serializable per request, so tests
that race requests need the emulator to be too. Other services (SQS) keep
moto's threading.

It also makes moto's DynamoDB Streams shard iterators read the table's
stream as it is, instead of the stream object the table had when the
iterator was made (see `_live_stream_shards`), and forgets iterators after
15 minutes, as DynamoDB does.

Usage: .venv/bin/python scripts/moto_server.py -H HOST -p PORT (as moto_server)
"""

import copy
import threading
import time
from collections import deque

import moto.server as server
from moto.dynamodbstreams import models as streams

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

# DynamoDB keeps a shard iterator usable for 15 minutes after it is handed out.
_ITERATOR_LIFETIME_S = 15 * 60


def _live_stream_shards():
    """A shard iterator reads the table's current stream, not a stale copy.

    moto undoes a failed TransactWriteItems by putting back a deep copy of
    the table taken before it started; the stream goes back with it, and the
    sequence numbers of the undone records (positions in the stream) are
    handed out again to the next writes. moto's iterator, though, holds the
    stream object it was made on. An iterator made before a transaction that
    then failed reads that transaction's records (writes DynamoDB never
    made: a failed transaction writes no stream record), under sequence
    numbers that later name other, real records, which a reader moving on
    past them then never sees. (It also keeps the whole discarded table
    alive as long as moto keeps the iterator: forever, which grew the
    emulator past 20 GB in the 100-message burst test.) Here an iterator
    remembers only its table's name and reads that table's stream as it is
    when GetRecords is called: only committed writes, each sequence number
    naming one record.
    """
    cls = streams.ShardIterator

    def get_shard(self):
        return self.streams_backend.dynamodb.get_table(self._table_name).stream_shard

    def set_shard(self, shard):
        self._table_name = shard.table.name

    cls.stream_shard = property(get_shard, set_shard)

    init = cls.__init__

    def init_remembered(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made = self.streams_backend.__dict__.setdefault("_iterators_made", deque())
        made.append((time.monotonic(), self.arn))

    cls.__init__ = init_remembered

    backend = streams.DynamoDBStreamsBackend
    get_shard_iterator = backend.get_shard_iterator

    def get_shard_iterator_expiring(self, *args, **kwargs):
        made = self.__dict__.get("_iterators_made", ())
        horizon = time.monotonic() - _ITERATOR_LIFETIME_S
        while made and made[0][0] < horizon:
            self.shard_iterators.pop(made.popleft()[1], None)
        return get_shard_iterator(self, *args, **kwargs)

    backend.get_shard_iterator = get_shard_iterator_expiring


_live_stream_shards()


def _share_stream_records_in_copies():
    """A table's copy shares its stream records instead of copying them.

    moto copies the whole table (`copy.deepcopy`) at the start of every
    TransactWriteItems, to put it back if the transaction fails. With the
    stream enabled the copy included every stream record ever written, old
    and new images and all: each transaction cost more than the last (tens
    of milliseconds after a few hundred messages), and the discarded copies
    (cyclic: a stream points back at its table) piled up until the cyclic
    garbage collector ran. A record never changes once written, so a copy
    of the stream is a new list of the same records.
    """
    from moto.dynamodb.models.table import StreamShard

    def deepcopy_sharing_records(self, memo):
        new = copy.copy(self)
        memo[id(self)] = new
        new.table = copy.deepcopy(self.table, memo)
        new.items = list(self.items)
        return new

    StreamShard.__deepcopy__ = deepcopy_sharing_records


_share_stream_records_in_copies()


def _untrack_dynamodb_models():
    """moto keeps no list of every DynamoDB object it ever made.

    moto appends every instance of its models to a class-level list, for
    its dashboard (`/moto-api/data.json`, unused here), and never lets go
    of them. A TransactWriteItems deep-copies the table, items included, so
    every transaction kept a whole copy of its table alive for good (as did
    every stream record and shard iterator): about 0.6 GB after the
    100-message burst test alone, several GB over a few test runs.
    """

    class Untracked(list):
        def append(self, _instance):
            pass

    from moto.core.model_instances import model_data

    for service in ("dynamodb", "dynamodbstreams"):
        for model in model_data[service].values():
            model.instances_tracked = Untracked()


_untrack_dynamodb_models()

if __name__ == "__main__":
    server.main()
