"""The inputs issue 15's attack run found 5xx or gaps with, sent to a running server; prints each answer's status
and content type (and, for the guessing case, how many attempts got through). Standard library only, so it runs
against any checkout. Called by bench/api_fuzz.sh; alone:

    python bench/api_bad_inputs.py --url http://127.0.0.1:8000 --token <admin token> --project 1 --user manager --password <p>
"""

import argparse
import http.client
import json
import urllib.parse
import uuid
from pathlib import Path

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>\n'


def send(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """(status, headers); the answer is read even when the server answers before taking the whole body (413)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=120)
    connection.putrequest(method, parts.path + (f"?{parts.query}" if parts.query else ""))
    for name, value in {**(headers or {}), "Content-Length": str(len(body or b""))}.items():
        connection.putheader(name, value)
    connection.endheaders()
    try:
        if body:
            connection.send(body)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        response = connection.getresponse()
        response.read()
        return response.status, response.headers
    except (ConnectionError, http.client.HTTPException) as error:  # it hung up without an answer
        return f"({type(error).__name__})", {}
    finally:
        connection.close()


def multipart(fields: dict[str, str], file: tuple[str, bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    name, data = file
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True, help="an admin's API token")
    parser.add_argument("--project", type=int, required=True)
    parser.add_argument("--user", required=True, help="a user whose password is guessed")
    parser.add_argument("--password", required=True, help="that user's real password (tried after the guesses)")
    args = parser.parse_args()
    api, auth = f"{args.url}/api/v1", {"Authorization": f"Token {args.token}"}
    as_json = {**auth, "Content-Type": "application/json"}
    nested = ("[" * 100_000 + "]" * 100_000).encode()
    svg_body, svg_type = multipart({"prompt": "p", "model": "m"}, ("drawing.svg", SVG))
    clip = (Path(__file__).resolve().parent.parent / "tests/fixtures/videoalign/videos/example_1_A.mp4").read_bytes()
    nul_body, nul_type = multipart({"prompt": "p", "model": "m", "meta": '{"k": "a\\u0000b"}'}, ("clip.mp4", clip))
    cases = {
        "1 nested JSON, token endpoint (anonymous)": (f"{api}/auth/token/", "POST", nested, {"Content-Type": "application/json"}),
        "1 nested JSON, create project": (f"{api}/projects/", "POST", nested, as_json),
        "2 lease_seconds 2^31, create project": (f"{api}/projects/", "POST",
                                                json.dumps({"name": "x", "lease_seconds": 2**31}).encode(), as_json),
        "2 max_width 2^31, patch project": (f"{api}/projects/{args.project}/", "PATCH",
                                           json.dumps({"max_width": 2**31}).encode(), as_json),
        "3 SVG uploaded as a video": (f"{api}/projects/{args.project}/videos/", "POST", svg_body,
                                      {**auth, "Content-Type": svg_type}),
        "4 meta with \\u0000": (f"{api}/projects/{args.project}/videos/", "POST", nul_body,
                                {**auth, "Content-Type": nul_type}),
        "6 leaderboard seed=-1": (f"{api}/projects/{args.project}/leaderboard/?seed=-1", "GET", None, auth),
        "6 adjudications offset=10^20": (f"{api}/projects/{args.project}/adjudications/?offset=99999999999999999999",
                                         "GET", None, auth),
        "7 unknown /api/ path": (f"{api}/no-such-thing/", "GET", None, auth),
        "7 11 MB JSON body": (f"{api}/projects/", "POST", json.dumps({"name": "x" * 11_000_000}).encode(), as_json),
    }
    print(f"{'case':44} status  content type")
    for name, (url, method, body, headers) in cases.items():
        status, headers_ = send(url, method, body, headers)
        print(f"{name:44} {status!s:6}  {headers_.get('Content-Type', '')}")

    def token_attempt(password: str) -> int:
        body = json.dumps({"username": args.user, "password": password}).encode()
        return send(f"{api}/auth/token/", "POST", body, {"Content-Type": "application/json"})

    statuses = [token_attempt(f"wrong-{i}")[0] for i in range(30)]
    status, headers_ = token_attempt(args.password)
    print(f"8 30 wrong passwords: {statuses.count(400)} answered 400, {statuses.count(429)} answered 429; the right "
          f"one then: {status} (Retry-After {headers_.get('Retry-After')})")
    _, page = send(f"{args.url}/login/")
    print(f"9 CSP on /login/: {page.get('Content-Security-Policy') or 'none'}")


if __name__ == "__main__":
    main()
