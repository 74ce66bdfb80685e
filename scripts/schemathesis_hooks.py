"""Schemathesis hooks for scripts/schemathesis.sh.

A query whose min_sequence is past what the node has applied waits and then answers
503 not-yet-applied by design (read-your-writes, docs/api.md); tests/it/query.rs checks it.
Generated queries leave min_sequence out so that not_a_server_error keeps judging every
other 5xx, on the query routes too.
"""
import schemathesis


@schemathesis.hook
def filter_query(ctx, query):
    return not (isinstance(query, dict) and "min_sequence" in query)


@schemathesis.hook
def filter_body(ctx, body):
    return not (isinstance(body, dict) and "min_sequence" in body)
