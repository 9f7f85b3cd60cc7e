"""HTTP failures → typed errors with the server's own message and a hint."""

from __future__ import annotations

import json

import pytest

from desktop.chat import errors as e


def zai(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False)


@pytest.mark.parametrize(("status", "body", "kind"), [
    (429, zai("1113", "您的账户已欠费，请充值后重试。"), e.NoBalance),
    (400, zai("1301", "系统检测到输入或生成内容可能包含不安全或敏感内容"), e.ContentRejected),
    (429, zai("1302", "您当前使用该API的并发数过高"), e.RateLimited),
    (429, zai("1305", "The service may be temporarily overloaded"), e.RateLimited),
    (401, zai("1002", "Authorization Token非法"), e.AuthRejected),
    (400, zai("1211", "Unknown Model, please check the model code."), e.ModelNotFound),
    (404, json.dumps({"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError",
                      "code": 404}), e.ModelNotFound),
    (400, json.dumps({"error": {"message": "At most 0 image(s) may be provided in one request."}}), e.NotAVisionModel),
    (500, "Internal Server Error", e.ServerFailed),
    (503, "", e.ServerFailed),
    (422, json.dumps({"detail": [{"msg": "Extra inputs are not permitted", "loc": ["body", "top_k"]}]}),
     e.RequestRejected),
])
def test_classification_keeps_the_servers_message(status: int, body: str, kind: type[e.ChatError]) -> None:
    error = e.classify_http_error(status, body, {}, model="glm-4.6v", base_url="http://x/v1")
    assert type(error) is kind
    assert error.hint
    assert error.status == status
    said = json.loads(body)["error"]["message"] if body.startswith('{"error"') else None
    if said:
        assert said in error.message
    assert body[:50] in error.detail


def test_rate_limit_reads_retry_after() -> None:
    error = e.classify_http_error(429, "{}", {"retry-after": "7"})
    assert isinstance(error, e.RateLimited) and error.retry_after == 7.0 and "7" in error.hint


def test_non_retryable_errors_say_so() -> None:
    assert not e.classify_http_error(401, "{}", {}).retryable
    assert e.classify_http_error(502, "bad gateway", {}).retryable
