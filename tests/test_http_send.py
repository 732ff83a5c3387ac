"""``durian.transport.prepared`` posts exactly what ``session.post`` would, on the pool the session's adapter picks."""

import base64

import pytest
import requests

from durian.transport import prepared as http


@pytest.fixture
def session():
    s = requests.Session()
    s.headers.clear()
    s.trust_env = False
    s.max_redirects = 0
    return s


def post(session, url, body=b'{"a":1}', headers=None):
    r = http.send(http.route(session, url), body, headers or {"Content-Type": "application/json"}, (2, 5))
    r.read()  # the whole body, so the connection goes back to the pool
    r.release_conn()
    return r


def test_the_body_headers_path_and_query_arrive_as_given(session, receiver):
    r = post(session, receiver.url + "/x?a=1&b=%20", b'{"name":"Jo\xc3\xab"}', {"webhook-id": "msg_1", "X-Test": "yes"})
    assert r.status == 200
    (got,) = receiver.wait_for(1)
    assert got.path == "/hook/x?a=1&b=%20"
    assert got.body == b'{"name":"Jo\xc3\xab"}'
    assert got.headers["content-length"] == str(len(got.body))
    assert got.headers["webhook-id"] == "msg_1" and got.headers["x-test"] == "yes"
    assert "cookie" not in got.headers


def test_credentials_in_the_url_become_basic_auth_as_with_requests(session, receiver):
    url = receiver.url.replace("http://", "http://user:p%40ss@")
    post(session, url)
    receiver.wait_for(1)
    expected = "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert receiver.requests[0].headers["authorization"] == expected


def test_a_redirect_is_returned_not_followed(session, receiver):
    receiver.respond(302, headers={"Location": "/elsewhere"})
    r = post(session, receiver.url)
    assert r.status == 302
    assert len(receiver.wait_for(1, delivered=False)) == 1


def test_cookies_a_receiver_sets_are_never_sent_back(session, receiver):
    receiver.respond(200, headers={"Set-Cookie": "track=1; Path=/"})
    post(session, receiver.url)
    post(session, receiver.url)
    receiver.wait_for(2)
    assert "cookie" not in receiver.requests[1].headers


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/x", "http://"])
def test_an_unusable_url_raises_a_requests_exception(session, url):
    with pytest.raises(requests.RequestException):
        post(session, url)
