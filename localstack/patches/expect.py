"""Assertions for the service modules' checks (run by check_emulator.py, never by the launcher)."""

import botocore.exceptions


class Mismatch(Exception):
    pass


def expect(condition, message, *details):
    if not condition:
        raise Mismatch(" ".join([message] + [repr(d) for d in details]))


def expect_equal(actual, wanted, what):
    expect(actual == wanted, f"{what}: expected {wanted!r}, got", actual)


def expect_error(code, call, **kwargs):
    """The call must fail with this AWS error code; returns the error message."""
    try:
        answer = call(**kwargs)
    except botocore.exceptions.ClientError as error:
        got = error.response["Error"]["Code"]
        expect(got == code, f"{call.__name__}: expected error {code}, got {got}:", error.response["Error"].get("Message"))
        return error.response["Error"].get("Message")
    raise Mismatch(f"{call.__name__}({kwargs}): expected error {code}, got success: {answer!r}")


def paginate(client, operation, key, page_size, **kwargs):
    """All items of a paginated describe/list, and the number of pages it took."""
    items, pages = [], 0
    limit = "MaxResults" if client.meta.service_model.service_name == "secretsmanager" else "MaxRecords"
    for page in client.get_paginator(operation).paginate(**kwargs, PaginationConfig={"PageSize": page_size}):
        pages += 1
        expect(len(page[key]) <= page_size, f"{operation}: a page holds more than {limit}={page_size}:", len(page[key]))
        items += page[key]
    return items, pages


def twice(what, call, pick, **kwargs):
    """A create sent again (its answer lost) with the same parameters answers the same resource."""
    first, second = pick(call(**kwargs)), pick(call(**kwargs))
    expect_equal(second, first, f"{what} sent again (same parameters, same ClientToken if any) answers the same resource")
    return first


def run_tag(ctx, kind):
    """TagSpecifications marking one resource of this check run."""
    return [{"ResourceType": kind, "Tags": [{"Key": "moodle-ha:resource", "Value": f"{kind}/{ctx.run}"}]}]
